/*
    Shell droppers: scripts that fetch a payload, make it executable and run it, often
    from a writable directory and with the traces removed afterwards.
*/
rule Shell_Dropper
{
    meta:
        description = "Shell script that downloads, chmods and runs a payload"
        author = "hpti"
    strings:
        $fetch1 = /(wget|curl|tftp|ftpget)\s[^\n]{0,200}(https?|ftp|tftp):\/\// ascii
        $fetch2 = /(wget|curl)\s+[^\n]{0,40}\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/ ascii
        $fetch3 = /tftp\s+(-g\s+)?(-r\s+\S+\s+)?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/ ascii
        $chmod = /chmod\s+(\+x|[0-7]?[0-7]{3}|a\+x|u\+x)\s/ ascii
        $run = /(\.\/|sh\s|bash\s|\|\s*(ba)?sh)/ ascii
    condition:
        filesize < 1MB and uint32(0) != 0x464c457f and any of ($fetch*) and $chmod and $run
}

/*
    The persistence step of many SSH campaigns: replace the victim's authorized_keys with
    the attacker's key and lock it (the "mdrfckr" key and its kin).
*/
rule SSH_Key_Backdoor
{
    meta:
        description = "Writes an attacker's key into authorized_keys"
        author = "hpti"
    strings:
        $dir = ".ssh" ascii
        $keys = "authorized_keys" ascii
        $key = /ssh-(rsa|ed25519|dss) AAAA[0-9A-Za-z+\/]{20}/ ascii
        $lock = "chattr" ascii
        $write = /(echo|printf)\s[^\n]{0,20}ssh-/ ascii
    condition:
        filesize < 1MB and $keys and $key and ($write or $lock or $dir)
}
