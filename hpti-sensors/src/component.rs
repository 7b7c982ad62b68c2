//! The sensors as components: `[sensors.<id>] type = "ssh"` / `"telnet"` / `"ftp"` /
//! `"http"`.
//!
//! A sensor's table holds its own keys ([`SshConfig`](crate::ssh::SshConfig),
//! [`TelnetConfig`](crate::telnet::TelnetConfig)); the fake host they show and its
//! rules come from the shared `[honeypot]` section, which the binary hands over with
//! [`HoneypotSensorConfig::new`]. The sensor's id names its events' `sensor` field, its
//! metrics and its logs.

#[cfg(any(feature = "ssh", feature = "telnet", feature = "ftp", feature = "http"))]
use async_trait::async_trait;
#[cfg(any(feature = "ssh", feature = "telnet", feature = "ftp", feature = "http"))]
use hpti_core::component::{BuildContext, BuildError, SourceConfig};
#[cfg(any(feature = "ssh", feature = "telnet", feature = "ftp", feature = "http"))]
use hpti_core::source::Source;

use crate::honeypot::HoneypotConfig;

/// A sensor's own config together with the shared fake-host config.
#[derive(Debug, Clone)]
pub struct HoneypotSensorConfig<C> {
    /// The sensor's keys.
    pub sensor: C,
    /// The `[honeypot]` section (with the sensor's `persona` applied by `build`).
    pub honeypot: HoneypotConfig,
}

impl<C> HoneypotSensorConfig<C> {
    /// Pairs a sensor's keys with the shared `[honeypot]` section.
    pub fn new(sensor: C, honeypot: &HoneypotConfig) -> Self {
        Self {
            sensor,
            honeypot: honeypot.clone(),
        }
    }

    fn honeypot_with(&self, persona: Option<&std::path::PathBuf>) -> HoneypotConfig {
        let mut honeypot = self.honeypot.clone();
        if let Some(persona) = persona {
            honeypot.persona = Some(persona.clone());
        }
        honeypot
    }
}

#[cfg(feature = "ssh")]
#[async_trait]
impl SourceConfig for HoneypotSensorConfig<crate::ssh::SshConfig> {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        let honeypot = self.honeypot_with(self.sensor.persona.as_ref());
        let sensor = crate::ssh::SshSensor::bind(
            cx.id.as_str(),
            &cx.data_dir,
            self.sensor.clone(),
            &honeypot,
            &cx.metrics,
        )
        .await
        .map_err(|e| BuildError::new("cannot start the SSH sensor", e))?;
        tracing::info!(sensor = %cx.id, "SSH honeypot listening on {}", sensor.local_addr());
        Ok(Box::new(sensor))
    }
}

#[cfg(feature = "telnet")]
#[async_trait]
impl SourceConfig for HoneypotSensorConfig<crate::telnet::TelnetConfig> {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        let honeypot = self.honeypot_with(self.sensor.persona.as_ref());
        let sensor = crate::telnet::TelnetSensor::bind(
            cx.id.as_str(),
            &cx.data_dir,
            self.sensor.clone(),
            &honeypot,
            &cx.metrics,
        )
        .await
        .map_err(|e| BuildError::new("cannot start the Telnet sensor", e))?;
        tracing::info!(sensor = %cx.id, "Telnet honeypot listening on {}", sensor.local_addr());
        Ok(Box::new(sensor))
    }
}

#[cfg(feature = "ftp")]
#[async_trait]
impl SourceConfig for HoneypotSensorConfig<crate::ftp::FtpConfig> {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        proftpd_without_tls(&self.sensor)?;
        let honeypot = self.honeypot_with(self.sensor.persona.as_ref());
        let sensor = crate::ftp::FtpSensor::bind(
            cx.id.as_str(),
            &cx.data_dir,
            self.sensor.clone(),
            &honeypot,
            &cx.metrics,
        )
        .await
        .map_err(|e| BuildError::new("cannot start the FTP sensor", e))?;
        tracing::info!(sensor = %cx.id, "FTP honeypot listening on {}", sensor.local_addr());
        Ok(Box::new(sensor))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        proftpd_without_tls(&self.sensor)?;
        // Given files are loaded; a self-signed certificate is only made by `run`.
        if let Some(tls) = &self.sensor.tls
            && (tls.cert.is_some() || tls.key.is_some())
        {
            crate::tls::server_config(tls, &cx.data_dir, cx.id.as_str(), "localhost", &[])
                .map_err(|e| BuildError::new("tls", e).at_key("tls"))?;
        }
        Ok(())
    }
}

/// Debian's proftpd does not load mod_tls and no FTPS of it was captured: `tls` is for
/// the vsftpd persona only.
#[cfg(feature = "ftp")]
fn proftpd_without_tls(config: &crate::ftp::FtpConfig) -> Result<(), BuildError> {
    if config.server == crate::ftp::FtpServer::Proftpd && config.tls.is_some() {
        return Err(BuildError::msg(
            "the proftpd persona has no FTPS (Debian's proftpd.conf does not load mod_tls); \
             remove `tls` or use server = \"vsftpd\"",
        )
        .at_key("tls"));
    }
    Ok(())
}

#[cfg(feature = "http")]
#[async_trait]
impl SourceConfig for HoneypotSensorConfig<crate::http::HttpConfig> {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        let sensor = crate::http::HttpSensor::bind(
            cx.id.as_str(),
            &cx.data_dir,
            self.sensor.clone(),
            &self.honeypot,
            &cx.metrics,
        )
        .await
        .map_err(|e| BuildError::new("cannot start the HTTP sensor", e))?;
        tracing::info!(sensor = %cx.id, "HTTP honeypot listening on {}", sensor.local_addr());
        Ok(Box::new(sensor))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        crate::http::check_personas(&self.sensor, &cx.data_dir).map_err(|e| {
            let key = if self.sensor.persona_dir.is_some() {
                "persona_dir"
            } else {
                "app"
            };
            BuildError::new("persona", e).at_key(key)
        })?;
        // Given files are loaded; a self-signed certificate is only made by `run`.
        if let Some(tls) = &self.sensor.tls
            && (tls.cert.is_some() || tls.key.is_some())
        {
            crate::tls::server_config(tls, &cx.data_dir, cx.id.as_str(), "localhost", &[])
                .map_err(|e| BuildError::new("tls", e).at_key("tls"))?;
        }
        Ok(())
    }

    fn read_paths(&self, cx: &BuildContext) -> Vec<std::path::PathBuf> {
        self.sensor
            .persona_dir
            .iter()
            .map(|d| cx.data_dir.join(d))
            .collect()
    }
}
