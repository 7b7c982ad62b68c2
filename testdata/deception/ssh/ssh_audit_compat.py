#!/usr/bin/env python3
"""What ssh-audit (pip package ssh-audit, checked with 3.9.0) prints on its
"(gen) compatibility:" line for a server KEXINIT, computed offline with
ssh-audit's own classes. Used to derive the line for the 8.9p1 and 9.6p1
personas, which cannot be installed here; the 9.2p1 value it prints matches
the real run in ssh-audit-debian12-9.2p1.txt.

Usage: python3 ssh_audit_compat.py   (needs: pip install ssh-audit)
"""
import os, re, struct, json
from ssh_audit.outputbuffer import OutputBuffer
from ssh_audit.ssh2_kex import SSH2_Kex
from ssh_audit.algorithms import Algorithms
from ssh_audit import ssh_audit as sa
ENC="chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com"
MAC="umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
HK="rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
K89="curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
K96="sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-s,kex-strict-s-v00@openssh.com"
K92="sntrup761x25519-sha512,"+K96.replace(",ext-info-s","")
def payload(kex):
    p=b"\x14"+os.urandom(16)
    for nl in (kex,HK,ENC,ENC,MAC,MAC,"none,zlib@openssh.com","none,zlib@openssh.com","",""):
        p+=struct.pack(">I",len(nl))+nl.encode()
    return p+b"\0\0\0\0\0"
for name,k in (("8.9p1",K89),("9.2p1-deb12u4+",K92),("9.6p1",K96)):
    out=OutputBuffer()
    kex=SSH2_Kex.parse(out, payload(k)[1:])
    algs=Algorithms(kex)
    out2=OutputBuffer()
    sa.output_compatibility(out2, algs, False)
    print(name, re.sub('\x1b\\[[0-9;]*m', '', ''.join(out2.get_buffer())).strip())
