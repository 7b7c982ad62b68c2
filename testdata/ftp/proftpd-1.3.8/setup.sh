#!/bin/sh
# Fixtures for the ProFTPD captures (run as root).
#   sh setup.sh up     create user ftptest (password ftptest) + its home files,
#                      fill ~ftp (/srv/ftp, the anonymous root) and the netns
#   sh setup.sh down   remove all of it again (userdel -r ftptest, netns, /srv/ftp extras)
# Same fixtures as ../vsftpd-3.0.3 (there the anon root was /tmp/ftpanon; here it is
# Debian's ~ftp = /srv/ftp, which already holds Debian's welcome.msg).
set -e
case "$1" in
up)
  id ftptest >/dev/null 2>&1 || useradd -m -s /bin/bash ftptest
  echo ftptest:ftptest | chpasswd
  H=/home/ftptest
  touch -d 2025-04-18 $H/.bash_logout $H/.bashrc $H/.profile
  mkdir -p $H/docs
  printf 'notes\n' > $H/notes.txt; touch -d '2018-07-04 12:00' $H/notes.txt
  truncate -s 50M $H/big.bin
  truncate -s 12G $H/huge.iso
  printf 'future\n' > $H/future.txt; touch -d '2027-06-01 12:00' $H/future.txt
  printf 'recent 150d\n' > $H/recent-150d.txt; touch -d '150 days ago' $H/recent-150d.txt
  printf 'old 200 days\n' > $H/old-200d.txt; touch -d '200 days ago' $H/old-200d.txt
  ln -sfn notes.txt $H/link-to-notes
  ln -sfn /nonexistent $H/dangling-link
  printf 'x\n' > "$H/my file.txt"
  printf '#!/bin/sh\n' > $H/suid.sh
  chown -R ftptest:ftptest $H
  chown -h ftptest:ftptest $H/link-to-notes $H/dangling-link
  chmod 4755 $H/suid.sh   # after chown (chown clears the setuid bit)
  A=/srv/ftp
  printf 'Welcome to the FTP archive.\nThis is a test file.\n' > $A/README.txt
  mkdir -p $A/incoming $A/pub
  printf 'hello world\n' > $A/pub/hello.txt
  python3 -c "import hashlib,sys; b=b''.join(hashlib.sha256(b'%d'%i).digest() for i in range(212)); sys.stdout.buffer.write(b[:6756])" > $A/pub/data.bin
  printf 'not a real tarball\n' | head -c 18 > $A/pub/old-release.tar.gz
  touch -d '2019-03-14 10:00' $A/pub/old-release.tar.gz
  printf 'This is pub/.message (DisplayChdir test).\n' > $A/pub/.message
  chown -R root:root $A/README.txt $A/incoming $A/pub
  touch -d '2021-11-02 09:00' $A/incoming
  # date-format boundary files (listed by local-user.txt as "LIST /tmp/proftpd-dates")
  D=/tmp/proftpd-dates; rm -rf $D; mkdir -p $D
  for d in 150 179 181 183 185 200; do printf 'x\n' > $D/past-${d}d; touch -d "$d days ago" $D/past-${d}d; done
  for d in 1 150 179 181 183 200 400; do printf 'x\n' > $D/future-${d}d; touch -d "$d days" $D/future-${d}d; done
  printf 'x\n' > $D/future-1h; touch -d "1 hour" $D/future-1h
  ip netns add ftpcap 2>/dev/null || true
  ip netns exec ftpcap ip link set lo up
  mkdir -p /tmp/proftpd-cap /tmp/proftpd-cap-limits
  ;;
down)
  userdel -r ftptest 2>/dev/null || true
  rm -rf /srv/ftp/README.txt /srv/ftp/incoming /srv/ftp/pub /tmp/proftpd-dates
  ip netns del ftpcap 2>/dev/null || true
  ;;
*) echo "usage: $0 up|down" >&2; exit 2;;
esac
