/*
    Mirai and the bots built from its leaked source (Satori, Okiru, Masuta, Moobot, ...):
    ELF binaries for every architecture a router or camera runs, which keep some of
    Mirai's cleartext strings: the busybox applet probe, the watchdog paths, the attack
    strings, the killer's /proc walk.
*/
rule Mirai_Bot
{
    meta:
        description = "Mirai-family IoT bot (ELF with Mirai's cleartext strings)"
        family = "mirai"
        author = "hpti"
    strings:
        $probe1 = "/bin/busybox MIRAI" ascii
        $probe2 = "MIRAI: applet not found" ascii
        $probe3 = "/bin/busybox ECCHI" ascii
        $wd1 = "/dev/watchdog" ascii
        $wd2 = "/dev/misc/watchdog" ascii
        $atk1 = "TSource Engine Query" ascii
        $atk2 = "/proc/net/tcp" ascii
        $atk3 = "/proc/self/exe" ascii
        $cred1 = "xc3511" ascii
        $cred2 = "vizxv" ascii
        $cred3 = "7ujMko0admin" ascii
    condition:
        uint32(0) == 0x464c457f and filesize < 5MB and
        (any of ($probe*) or (all of ($wd*) and 2 of ($atk*, $cred*)))
}

/*
    The loaders that fetch a Mirai bot for each architecture in turn (the `bins.sh`
    scripts honeypots catch by the thousand).
*/
rule Mirai_Loader
{
    meta:
        description = "Shell loader that fetches a bot build per CPU architecture"
        family = "mirai"
        author = "hpti"
    strings:
        $arch1 = /[^a-z]mips[^a-z0-9]/ ascii
        $arch2 = /[^a-z]mpsl[^a-z0-9]/ ascii
        $arch3 = /[^a-z]arm7[^a-z0-9]/ ascii
        $arch4 = /[^a-z]x86(_64)?[^a-z0-9]/ ascii
        $arch5 = /[^a-z]ppc[^a-z0-9]/ ascii
        $arch6 = /[^a-z]m68k[^a-z0-9]/ ascii
        $arch7 = /[^a-z]sh4[^a-z0-9]/ ascii
        $arch8 = /[^a-z]spc[^a-z0-9]/ ascii
        $fetch1 = "wget " ascii
        $fetch2 = "curl " ascii
        $fetch3 = "tftp " ascii
        $fetch4 = "ftpget " ascii
    condition:
        filesize < 256KB and uint32(0) != 0x464c457f and 4 of ($arch*) and any of ($fetch*)
}
