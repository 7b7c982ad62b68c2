/*
    XMRig, the Monero miner most SSH and Redis intrusions install, and the scripts that
    configure it.
*/
rule XMRig_Miner
{
    meta:
        description = "XMRig cryptocurrency miner (binary or configuration)"
        family = "xmrig"
        author = "hpti"
    strings:
        $name1 = "xmrig" ascii nocase
        $name2 = "XMRig/" ascii
        $pool1 = "stratum+tcp://" ascii
        $pool2 = "stratum+ssl://" ascii
        $donate = "donate-level" ascii
        $algo1 = "randomx" ascii nocase
        $algo2 = "cryptonight" ascii nocase
        $cfg1 = "\"coin\": \"monero\"" ascii
        $cfg2 = "\"rig-id\"" ascii
    condition:
        (any of ($name*) and (any of ($pool*) or $donate or any of ($algo*))) or
        (any of ($pool*) and any of ($algo*, $cfg*))
}
