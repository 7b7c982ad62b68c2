// hpti patch: this whole file is new. UMAC-64 and UMAC-128 (RFC 4418) as OpenSSH uses
// them (`umac.c`: AES-128, the 8-byte big-endian packet sequence number as the nonce),
// for `umac-64@openssh.com`, `umac-128@openssh.com` and their `-etm` forms, which every
// OpenSSH server since 6.2 offers first. There is no RustCrypto UMAC crate.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use subtle::ConstantTimeEq;

use super::{Mac, MacAlgorithm};

/// Bytes of message hashed by one NH key (L1 chunk).
const L1_KEY_LEN: usize = 1024;
/// 2^64 - 59.
const P64: u64 = 0xFFFF_FFFF_FFFF_FFC5;
/// 2^36 - 5.
const P36: u64 = 0x0000_000F_FFFF_FFFB;
const POLY_MASK: u64 = 0x01FF_FFFF_01FF_FFFF;

/// A keyed UMAC instance with a tag of `4 * streams` bytes (2 streams: UMAC-64,
/// 4 streams: UMAC-128).
pub(crate) struct Umac {
    streams: usize,
    /// The PDF's AES key (KDF index 0).
    pdf: Aes128,
    /// NH key words (big-endian words of KDF index 1), 16 bytes more per extra stream.
    nh_key: Vec<u32>,
    /// L2 (POLY-64) keys, already masked.
    poly_key: [u64; 4],
    /// L3 keys: the last four of each stream's eight 64-bit words, reduced mod p36.
    /// The first four always multiply zero bytes, because the L2 output is below 2^64.
    ip_key: [[u64; 4]; 4],
    /// L3 output masks (KDF index 4).
    ip_trans: [u32; 4],
}

/// RFC 4418 KDF: AES-128 in counter mode with the key index in the first 8 bytes.
fn kdf(cipher: &Aes128, index: u64, out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&index.to_be_bytes());
        block[8..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        let mut block = block.into();
        cipher.encrypt_block(&mut block);
        let block: [u8; 16] = block.into();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

fn be64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_be_bytes(word)
}

impl Umac {
    /// `tag_len` is 8 or 16 (anything else is treated as 16).
    pub(crate) fn new(key: &[u8; 16], tag_len: usize) -> Self {
        let streams = if tag_len == 8 { 2 } else { 4 };
        let cipher = Aes128::new(&(*key).into());

        let mut pdf_key = [0u8; 16];
        kdf(&cipher, 0, &mut pdf_key);
        let pdf = Aes128::new(&pdf_key.into());

        let mut nh_bytes = vec![0u8; L1_KEY_LEN + 16 * (streams - 1)];
        kdf(&cipher, 1, &mut nh_bytes);
        let nh_key = nh_bytes
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .collect();

        let mut poly_bytes = [0u8; 4 * 24];
        kdf(&cipher, 2, &mut poly_bytes[..streams * 24]);
        let mut poly_key = [0u64; 4];
        for (s, k) in poly_key.iter_mut().enumerate().take(streams) {
            *k = be64(&poly_bytes[s * 24..s * 24 + 8]) & POLY_MASK;
        }

        let mut ip_bytes = [0u8; 4 * 64];
        kdf(&cipher, 3, &mut ip_bytes[..streams * 64]);
        let mut ip_key = [[0u64; 4]; 4];
        for (s, keys) in ip_key.iter_mut().enumerate().take(streams) {
            for (j, k) in keys.iter_mut().enumerate() {
                let at = s * 64 + 32 + 8 * j;
                *k = be64(&ip_bytes[at..at + 8]) % P36;
            }
        }

        let mut trans_bytes = [0u8; 16];
        kdf(&cipher, 4, &mut trans_bytes[..streams * 4]);
        let mut ip_trans = [0u32; 4];
        for (s, t) in ip_trans.iter_mut().enumerate().take(streams) {
            let b = &trans_bytes[s * 4..s * 4 + 4];
            *t = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }

        Umac {
            streams,
            pdf,
            nh_key,
            poly_key,
            ip_key,
            ip_trans,
        }
    }

    /// NH of one chunk (at most 1024 bytes) with the key words starting at `key`,
    /// plus the chunk's length in bits.
    fn nh(key: &[u32], chunk: &[u8]) -> u64 {
        let mut padded = [0u8; L1_KEY_LEN];
        padded[..chunk.len()].copy_from_slice(chunk);
        // An empty message still hashes one zero block: RFC 4418 pads to a positive multiple.
        let blocks = chunk.len().div_ceil(32).max(1);
        let mut y = 0u64;
        for (b, block) in padded.chunks_exact(32).take(blocks).enumerate() {
            let m = |i: usize| {
                u32::from_le_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ])
            };
            let k = &key[8 * b..8 * b + 8];
            for j in 0..4 {
                let a = m(j).wrapping_add(k[j]) as u64;
                let c = m(j + 4).wrapping_add(k[j + 4]) as u64;
                y = y.wrapping_add(a.wrapping_mul(c));
            }
        }
        y.wrapping_add((chunk.len() as u64) * 8)
    }

    fn poly64(y: u64, key: u64, m: u64) -> u64 {
        ((key as u128 * y as u128 + m as u128) % P64 as u128) as u64
    }

    /// UHASH output of one stream: L1 (NH), L2 (POLY-64) for messages over one chunk,
    /// L3 (inner product mod p36).
    fn uhash(&self, stream: usize, message: &[u8]) -> u32 {
        let key = &self.nh_key[4 * stream..];
        let l2 = if message.len() <= L1_KEY_LEN {
            Self::nh(key, message)
        } else {
            // OpenSSH's umac.c stays with POLY-64 whatever the length (RFC 4418 moves to
            // POLY-128 past 2^24 bytes); SSH packets are far below either limit.
            let mut y = 1u64;
            for chunk in message.chunks(L1_KEY_LEN) {
                let m = Self::nh(key, chunk);
                if m >= 0xFFFF_FFFF_0000_0000 {
                    y = Self::poly64(y, self.poly_key[stream], P64 - 1);
                    // m is at least 2^64 - 2^32, so this cannot underflow; 59 = 2^64 - p64.
                    y = Self::poly64(y, self.poly_key[stream], m - 59);
                } else {
                    y = Self::poly64(y, self.poly_key[stream], m);
                }
            }
            y
        };
        let keys = &self.ip_key[stream];
        let mut t = 0u64;
        for (j, k) in keys.iter().enumerate() {
            t += k * ((l2 >> (48 - 16 * j)) & 0xFFFF);
        }
        ((t % P36) as u32) ^ self.ip_trans[stream]
    }

    /// The tag (`4 * streams` bytes) of `message` under the 8-byte `nonce`.
    pub(crate) fn tag(&self, message: &[u8], nonce: &[u8; 8], out: &mut [u8]) {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(nonce);
        let index = if self.streams == 2 {
            let index = (block[7] & 1) as usize;
            block[7] &= !1;
            index
        } else {
            0
        };
        let mut block = block.into();
        self.pdf.encrypt_block(&mut block);
        let block: [u8; 16] = block.into();
        let len = 4 * self.streams;
        let pad = &block[index * len..index * len + len];
        for (s, (o, p)) in out
            .chunks_exact_mut(4)
            .zip(pad.chunks_exact(4))
            .take(self.streams)
            .enumerate()
        {
            let y = self.uhash(s, message).to_be_bytes();
            for i in 0..4 {
                o[i] = y[i] ^ p[i];
            }
        }
    }
}

/// `umac-64@openssh.com` and friends: `tag_len` 8 or 16, `etm` for the `-etm` forms.
pub struct UmacAlgorithm {
    pub tag_len: usize,
    pub etm: bool,
}

impl MacAlgorithm for UmacAlgorithm {
    fn key_len(&self) -> usize {
        16
    }

    fn make_mac(&self, mac_key: &[u8]) -> Box<dyn Mac + Send> {
        // russh derives exactly key_len() bytes, so the fallback is unreachable.
        let mut key = [0u8; 16];
        let n = mac_key.len().min(16);
        key[..n].copy_from_slice(&mac_key[..n]);
        Box::new(UmacMac {
            umac: Umac::new(&key, self.tag_len),
            tag_len: self.tag_len,
            etm: self.etm,
        })
    }
}

struct UmacMac {
    umac: Umac,
    tag_len: usize,
    etm: bool,
}

impl Mac for UmacMac {
    fn mac_len(&self) -> usize {
        self.tag_len
    }

    fn is_etm(&self) -> bool {
        self.etm
    }

    fn compute(&self, sequence_number: u32, payload: &[u8], output: &mut [u8]) {
        let nonce = u64::from(sequence_number).to_be_bytes();
        self.umac.tag(payload, &nonce, output);
    }

    fn verify(&self, sequence_number: u32, payload: &[u8], mac: &[u8]) -> bool {
        let mut buf = [0u8; 16];
        let buf = &mut buf[..self.tag_len];
        self.compute(sequence_number, payload, buf);
        buf.ct_eq(mac).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8; 16] = b"abcdefghijklmnop";
    const NONCE: &[u8; 8] = b"bcdefghi";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn tag(message: &[u8], tag_len: usize) -> String {
        let mut out = [0u8; 16];
        Umac::new(KEY, tag_len).tag(message, NONCE, &mut out[..tag_len]);
        hex(&out[..tag_len])
    }

    /// RFC 4418 appendix: the 64-bit and 96-bit columns (UMAC-128's first 12 bytes are
    /// the 96-bit tag), and the full 128-bit tags from Krovetz's reference code. The
    /// 'a' * 2^25 vector needs POLY-128, which OpenSSH does not implement either.
    #[test]
    fn rfc4418_vectors() {
        let a = |n: usize| vec![b'a'; n];
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (vec![], "6E155FAD26900BE1", "32FEDB100C79AD58F07FF7643CC60465"),
            (a(3), "44B5CB542F220104", "185E4FE905CBA7BD85E4C2DC3D117D8D"),
            (a(1 << 10), "26BF2F5D60118BD9", "7A54ABE04AF82D60FB298C3CBD195BCB"),
            (a(1 << 15), "27F8EF643B0D118D", "7B136BD911E4B734286EF2BE501F2C3C"),
            (a(1 << 20), "A4477E87E9F55853", "F8ACFA3AC31CFEEA047F7B11"),
            (b"abc".to_vec(), "D4D7B9F6BD4FBFCF", "883C3D4B97A61976FFCF2323"),
            (b"abc".repeat(500), "D4CF26DDEFD5C01A", "8824A260C53C66A36C9260A6"),
        ];
        for (message, umac64, umac128) in cases {
            assert_eq!(tag(&message, 8), umac64, "UMAC-64, {} bytes", message.len());
            let t128 = tag(&message, 16);
            assert_eq!(&t128[..umac128.len()], umac128, "UMAC-128, {} bytes", message.len());
        }
    }

    #[test]
    fn ssh_mac_uses_sequence_number_as_nonce() {
        let algo = UmacAlgorithm { tag_len: 8, etm: true };
        let mac = algo.make_mac(KEY);
        let mut out = [0u8; 8];
        mac.compute(7, b"packet", &mut out);
        assert!(mac.verify(7, b"packet", &out));
        assert!(!mac.verify(8, b"packet", &out));
        let mut expected = [0u8; 8];
        Umac::new(KEY, 8).tag(b"packet", &7u64.to_be_bytes(), &mut expected);
        assert_eq!(out, expected);
    }
}
