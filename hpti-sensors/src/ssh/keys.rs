//! Host keys: generated on first start (ed25519, ECDSA P-256, RSA 3072, as
//! `ssh-keygen -A` makes them on a Debian install) and kept in the data directory in
//! OpenSSH format, so the host's fingerprints stay the same across restarts — a key that
//! changes on every restart is itself a tell.

use std::path::Path;

use hpti_core::source::SourceError;
use russh::keys::ssh_key::{Algorithm, EcdsaCurve, LineEnding, PrivateKey};

/// Makes the algorithm of one key file (`Algorithm` has no const constructors).
type MakeAlgorithm = fn() -> Algorithm;

/// The key files under the key directory and the algorithm of each.
const KEYS: [(&str, MakeAlgorithm); 3] = [
    ("ssh_host_ed25519_key", || Algorithm::Ed25519),
    ("ssh_host_ecdsa_key", || Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    }),
    ("ssh_host_rsa_key", || Algorithm::Rsa { hash: None }),
];

/// Loads the host keys in `dir`, generating and saving (mode 0600) those missing.
pub fn load_or_generate(dir: &Path) -> Result<Vec<PrivateKey>, SourceError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| SourceError::new(format!("creating {}", dir.display()), e))?;
    let mut keys = Vec::with_capacity(KEYS.len());
    for (file, algorithm) in KEYS {
        let path = dir.join(file);
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => PrivateKey::from_openssh(&text).map_err(|e| {
                // Never regenerated silently: a new host key makes every returning
                // client warn that the host changed.
                SourceError::new(
                    format!(
                        "host key {} is damaged (restore it from a backup; or move it aside \
                         and a new key is generated, which returning clients will notice)",
                        path.display()
                    ),
                    e,
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(&path, algorithm())?,
            Err(e) => return Err(SourceError::new(format!("reading {}", path.display()), e)),
        };
        keys.push(key);
    }
    Ok(keys)
}

fn generate(path: &Path, algorithm: Algorithm) -> Result<PrivateKey, SourceError> {
    let key = if let Algorithm::Rsa { .. } = algorithm {
        let rsa = russh::keys::ssh_key::private::RsaKeypair::random(&mut rand::rng(), 3072)
            .map_err(|e| SourceError::new("generating an RSA host key", e))?;
        PrivateKey::from(rsa)
    } else {
        PrivateKey::random(&mut rand::rng(), algorithm)
            .map_err(|e| SourceError::new("generating a host key", e))?
    };
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| SourceError::new("encoding a host key", e))?;
    write_private(path, text.as_bytes())
        .map_err(|e| SourceError::new(format!("writing {}", path.display()), e))?;
    tracing::info!(path = %path.display(), fingerprint = %key.public_key().fingerprint(Default::default()), "generated an SSH host key");
    Ok(key)
}

fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}
