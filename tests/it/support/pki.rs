//! A throwaway PKI for mTLS tests.

/// Certificates for an mTLS test: a CA, the server's certificate for 127.0.0.1, and client
/// certificates carrying SPIFFE cluster identities.
pub struct Pki {
    dir: tempfile::TempDir,
    pub ca: rcgen::Certificate,
    ca_issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tsbridge test CA");
        let key = rcgen::KeyPair::generate().expect("key");
        let ca = params.self_signed(&key).expect("CA");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).expect("write");
        Pki {
            dir,
            ca,
            ca_issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Writes `<name>.crt` and `<name>.key`, signed by this CA.
    pub fn leaf(&self, name: &str, sans: Vec<rcgen::SanType>) -> (String, String) {
        self.leaf_valid(name, sans, None)
    }

    /// [`Pki::leaf`] valid from January 1st of this year + `years.start` to January 1st of
    /// this year + `years.end` (e.g. `-2..-1`: expired; `1..2`: not yet valid).
    pub fn leaf_valid(
        &self,
        name: &str,
        sans: Vec<rcgen::SanType>,
        years: Option<std::ops::Range<i32>>,
    ) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = sans;
        if let Some(years) = years {
            let year = i32::from(jiff::Zoned::now().year());
            params.not_before = rcgen::date_time_ymd(year + years.start, 1, 1);
            params.not_after = rcgen::date_time_ymd(year + years.end, 1, 1);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca_issuer).expect("signed");
        let crt = self.dir.path().join(format!("{name}.crt"));
        let pem_key = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&crt, cert.pem()).expect("write");
        std::fs::write(&pem_key, key.serialize_pem()).expect("write");
        (
            crt.to_str().expect("UTF-8").to_string(),
            pem_key.to_str().expect("UTF-8").to_string(),
        )
    }

    pub fn path(&self, file: &str) -> String {
        self.dir
            .path()
            .join(file)
            .to_str()
            .expect("UTF-8")
            .to_string()
    }

    pub fn cluster(&self, name: &str) -> (String, String) {
        self.cluster_valid(name, name, None)
    }

    /// A client certificate of cluster `cluster` in files `<file>.crt`/`.key`, valid over
    /// `years` (see [`Pki::leaf_valid`]).
    pub fn cluster_valid(
        &self,
        file: &str,
        cluster: &str,
        years: Option<std::ops::Range<i32>>,
    ) -> (String, String) {
        let uri = format!("spiffe://tsbridge.local/cluster/{cluster}");
        self.leaf_valid(
            file,
            vec![rcgen::SanType::URI(uri.as_str().try_into().expect("URI"))],
            years,
        )
    }

    /// A serving certificate for 127.0.0.1 in `<file>.crt`/`.key`, valid over `years`.
    pub fn server(&self, file: &str, years: Option<std::ops::Range<i32>>) -> (String, String) {
        self.leaf_valid(
            file,
            vec![rcgen::SanType::IpAddress("127.0.0.1".parse().expect("IP"))],
            years,
        )
    }
}
