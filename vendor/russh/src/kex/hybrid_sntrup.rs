// hpti patch: this whole file is new. It implements `sntrup761x25519-sha512` and its
// older name `sntrup761x25519-sha512@openssh.com` as OpenSSH's `kexsntrup761x25519.c`
// does, so that a server can offer every key exchange the OpenSSH release it imitates
// offers. Its shape follows `hybrid_mlkem.rs`.
use byteorder::{BigEndian, ByteOrder};
use curve25519_dalek::montgomery::MontgomeryPoint;
use log::debug;
use sha2::Digest;
use ssh_encoding::{Encode, Writer};

use super::{compute_keys, KexAlgorithm, KexAlgorithmImplementor, KexType, SharedSecret};
use crate::mac;
use crate::session::Exchange;
use crate::{cipher, msg, CryptoVec, Error};

const SNTRUP761_PUBLIC_KEY_SIZE: usize = sntrup761::PUBLIC_KEY_SIZE;
const SNTRUP761_CIPHERTEXT_SIZE: usize = sntrup761::CIPHERTEXT_SIZE;
const X25519_PUBLIC_KEY_SIZE: usize = 32;

pub struct Sntrup761X25519KexType {}

impl KexType for Sntrup761X25519KexType {
    fn make(&self) -> KexAlgorithm {
        Sntrup761X25519Kex::default().into()
    }
}

#[doc(hidden)]
#[derive(Default)]
pub struct Sntrup761X25519Kex {
    sntrup_secret: Option<Box<sntrup761::DecapsulationKey>>,
    x25519_secret: Option<[u8; 32]>,
    /// SHA-512(sntrup761 key || X25519 secret), the `K` of the exchange hash.
    shared: Option<[u8; 64]>,
}

impl std::fmt::Debug for Sntrup761X25519Kex {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Sntrup761X25519Kex {{ [hidden] }}")
    }
}

fn combine(kem: &sntrup761::SharedSecret, x25519: &MontgomeryPoint) -> [u8; 64] {
    let mut hasher = sha2::Sha512::new();
    hasher.update(kem.as_ref());
    hasher.update(x25519.0);
    hasher.finalize().into()
}

impl KexAlgorithmImplementor for Sntrup761X25519Kex {
    fn skip_exchange(&self) -> bool {
        false
    }

    fn server_dh(&mut self, exchange: &mut Exchange, payload: &[u8]) -> Result<(), Error> {
        debug!("server_dh (hybrid sntrup761)");

        if payload.first() != Some(&msg::KEX_HYBRID_INIT) {
            return Err(Error::Inconsistent);
        }
        let c_init_len = payload
            .get(1..5)
            .map(BigEndian::read_u32)
            .ok_or(Error::Inconsistent)? as usize;
        let c_init = payload
            .get(5..5 + c_init_len)
            .ok_or(Error::Inconsistent)?;
        if c_init_len != SNTRUP761_PUBLIC_KEY_SIZE + X25519_PUBLIC_KEY_SIZE {
            return Err(Error::Kex);
        }
        let (c_kem_bytes, c_x25519_bytes) = c_init.split_at(SNTRUP761_PUBLIC_KEY_SIZE);
        let c_kem =
            sntrup761::EncapsulationKey::try_from(c_kem_bytes).map_err(|_| Error::Kex)?;
        let mut c_x25519 = MontgomeryPoint([0; 32]);
        c_x25519.0.copy_from_slice(c_x25519_bytes);

        let (s_ct, kem_secret) = c_kem.encapsulate(rand::rng());

        let s_secret = rand::random::<[u8; 32]>();
        let s_x25519 = MontgomeryPoint::mul_base_clamped(s_secret);
        let x25519_secret = c_x25519.mul_clamped(s_secret);
        if x25519_secret.0 == [0u8; 32] {
            debug!("client sent a low-order curve25519 pubkey");
            return Err(Error::Kex);
        }

        exchange.server_ephemeral.clear();
        exchange.server_ephemeral.extend_from_slice(s_ct.as_ref());
        exchange.server_ephemeral.extend_from_slice(&s_x25519.0);

        self.shared = Some(combine(&kem_secret, &x25519_secret));
        Ok(())
    }

    fn client_dh(
        &mut self,
        client_ephemeral: &mut Vec<u8>,
        writer: &mut impl Writer,
    ) -> Result<(), Error> {
        let (kem_pk, kem_sk) = sntrup761::generate_key(rand::rng());
        let x25519_secret = rand::random::<[u8; 32]>();
        let x25519_pk = MontgomeryPoint::mul_base_clamped(x25519_secret);

        client_ephemeral.clear();
        client_ephemeral.extend(kem_pk.as_ref());
        client_ephemeral.extend(&x25519_pk.0);

        msg::KEX_HYBRID_INIT.encode(writer)?;
        client_ephemeral.as_slice().encode(writer)?;

        self.sntrup_secret = Some(Box::new(kem_sk));
        self.x25519_secret = Some(x25519_secret);
        Ok(())
    }

    fn compute_shared_secret(&mut self, remote_pubkey_: &[u8]) -> Result<(), Error> {
        if remote_pubkey_.len() != SNTRUP761_CIPHERTEXT_SIZE + X25519_PUBLIC_KEY_SIZE {
            return Err(Error::Kex);
        }
        let (s_ct_bytes, s_x25519_bytes) = remote_pubkey_.split_at(SNTRUP761_CIPHERTEXT_SIZE);
        let s_ct = sntrup761::Ciphertext::try_from(s_ct_bytes).map_err(|_| Error::Kex)?;
        let kem_sk = self.sntrup_secret.take().ok_or(Error::KexInit)?;
        let kem_secret = kem_sk.decapsulate(&s_ct);

        let mut s_x25519 = MontgomeryPoint([0; 32]);
        s_x25519.0.copy_from_slice(s_x25519_bytes);
        let x25519_secret = self.x25519_secret.take().ok_or(Error::KexInit)?;
        let x25519_shared = s_x25519.mul_clamped(x25519_secret);
        if x25519_shared.0 == [0u8; 32] {
            debug!("server sent a low-order curve25519 pubkey");
            return Err(Error::Kex);
        }
        self.shared = Some(combine(&kem_secret, &x25519_shared));
        Ok(())
    }

    fn shared_secret_bytes(&self) -> Option<&[u8]> {
        self.shared.as_ref().map(|k| k.as_slice())
    }

    fn compute_exchange_hash(
        &self,
        key: &[u8],
        exchange: &Exchange,
        buffer: &mut CryptoVec,
    ) -> Result<Vec<u8>, Error> {
        buffer.clear();
        exchange.client_id.encode(buffer)?;
        exchange.server_id.encode(buffer)?;
        exchange.client_kex_init.encode(buffer)?;
        exchange.server_kex_init.encode(buffer)?;

        buffer.extend(key);

        exchange.client_ephemeral.encode(buffer)?;
        exchange.server_ephemeral.encode(buffer)?;

        // OpenSSH encodes this K as a string, not an mpint (kexsntrup761x25519.c).
        let shared = self.shared.as_ref().ok_or(Error::KexInit)?;
        shared.as_slice().encode(buffer)?;

        let mut hasher = sha2::Sha512::new();
        hasher.update(&buffer);
        Ok(hasher.finalize().to_vec())
    }

    fn compute_keys(
        &self,
        session_id: &[u8],
        exchange_hash: &[u8],
        cipher: cipher::Name,
        remote_to_local_mac: mac::Name,
        local_to_remote_mac: mac::Name,
        is_server: bool,
    ) -> Result<super::cipher::CipherPair, Error> {
        let shared = self.shared.as_ref().ok_or(Error::KexInit)?;
        let shared_secret = SharedSecret::from_string(shared)?;
        compute_keys::<sha2::Sha512>(
            Some(&shared_secret),
            session_id,
            exchange_hash,
            cipher,
            remote_to_local_mac,
            local_to_remote_mac,
            is_server,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sntrup761x25519_client_and_server_agree() {
        let mut client = Sntrup761X25519Kex::default();
        let mut server = Sntrup761X25519Kex::default();
        let mut client_ephemeral = Vec::new();
        let mut init = Vec::new();
        client.client_dh(&mut client_ephemeral, &mut init).unwrap();
        assert_eq!(
            client_ephemeral.len(),
            SNTRUP761_PUBLIC_KEY_SIZE + X25519_PUBLIC_KEY_SIZE
        );
        let mut exchange = Exchange {
            client_id: b"SSH-2.0-a".to_vec(),
            server_id: b"SSH-2.0-b".to_vec(),
            client_kex_init: bytes::Bytes::from_static(b"c"),
            server_kex_init: bytes::Bytes::from_static(b"s"),
            client_ephemeral,
            server_ephemeral: Vec::new(),
            gex: None,
        };
        server.server_dh(&mut exchange, &init).unwrap();
        assert_eq!(
            exchange.server_ephemeral.len(),
            SNTRUP761_CIPHERTEXT_SIZE + X25519_PUBLIC_KEY_SIZE
        );
        client
            .compute_shared_secret(&exchange.server_ephemeral)
            .unwrap();
        assert_eq!(client.shared, server.shared);
        let mut buffer = CryptoVec::new();
        let h1 = client
            .compute_exchange_hash(b"key", &exchange, &mut buffer)
            .unwrap();
        let h2 = server
            .compute_exchange_hash(b"key", &exchange, &mut buffer)
            .unwrap();
        assert_eq!(h1, h2);
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn sntrup761x25519_rejects_short_init() {
        let mut server = Sntrup761X25519Kex::default();
        let mut init = Vec::new();
        msg::KEX_HYBRID_INIT.encode(&mut init).unwrap();
        vec![0u8; 100].encode(&mut init).unwrap();
        assert!(server.server_dh(&mut Exchange::default(), &init).is_err());
        assert!(server.server_dh(&mut Exchange::default(), &[30, 0]).is_err());
    }
}
