//! What a reader accepts.

use tensorseal_format::Limits;

use crate::trust::TrustStore;

/// When slice digests are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verification {
    /// Every slice at open, in parallel.
    #[default]
    Eager,
    /// Each slice once, on first access of one of its tensors (thread-safe).
    Lazy,
}

/// The trust policy a file must satisfy to open.
///
/// The default requires signatures by at least [`Policy::required_signers`]
/// distinct signers of [`Policy::trusted`]. Every signature a file carries is
/// checked cryptographically whatever the policy (one bad entry refuses the
/// file). [`Policy::allow_unsigned`], which a caller must ask for by name, waives
/// the trust requirement: unsigned files, and files whose valid signatures are
/// all by untrusted keys, then open (integrity is still checked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    allow_unsigned: bool,
    limits: Limits,
    now: Option<i64>,
    trust: TrustStore,
    threshold: usize,
    model_id: Option<String>,
}

impl Policy {
    /// The default policy: a signature is required.
    pub fn require_signature() -> Self {
        Policy::default()
    }

    /// A policy that also opens unsigned files (integrity is still checked).
    pub fn allow_unsigned() -> Self {
        Policy {
            allow_unsigned: true,
            ..Policy::default()
        }
    }

    /// Trusts these signers.
    pub fn trust(mut self, store: TrustStore) -> Self {
        self.trust = store;
        self
    }

    /// Requires signatures from at least `n` distinct trusted signers (default 1).
    pub fn threshold(mut self, n: usize) -> Self {
        self.threshold = n;
        self
    }

    /// The trusted signers.
    pub fn trusted(&self) -> &TrustStore {
        &self.trust
    }

    /// How many distinct trusted signers must have signed (at least 1).
    pub fn required_signers(&self) -> usize {
        self.threshold.max(1)
    }

    /// Whether unsigned files are accepted.
    pub fn allows_unsigned(&self) -> bool {
        self.allow_unsigned
    }

    /// Expects this model id: a file that carries another one is refused
    /// as a substitution ([`crate::ErrorKind::Substitution`]), however
    /// validly it is signed. Rollback is not a policy setting: it is the
    /// explicit step [`crate::RollbackStore::check_and_record`] after open.
    pub fn expect_model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// The model id expected, if any.
    pub fn expected_model_id(&self) -> Option<&str> {
        self.model_id.as_deref()
    }

    /// Lowers the decoding limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The decoding limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Judges expiry at this time (seconds since the epoch) instead of the clock.
    pub fn at_time(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The time expiry is judged at.
    pub fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }
}

/// What vouches for an opened file's contents beyond integrity.
///
/// Integrity (digests, chunk tags) only says the bytes are the ones the
/// file's own manifest describes. Without a trusted signature anyone can make
/// a file, encrypted ones included: a recipient's public key is all it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authenticity {
    /// Signed by this many distinct signers the policy trusts (at least one):
    /// the manifest, and through it every tensor's name, shape, bytes and key
    /// commitment, is authenticated.
    Signed {
        /// Distinct trusted signers.
        trusted: usize,
    },
    /// Every signature verifies, but none is by a trusted key (opened under
    /// [`Policy::allow_unsigned`]): as good as unsigned.
    UntrustedSignatures,
    /// No signature (opened under [`Policy::allow_unsigned`]).
    Unsigned,
}

/// What was checked when a file was opened: see `Model::checked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Signatures, as judged by the policy.
    pub authenticity: Authenticity,
    /// Whether the file is encrypted.
    pub encrypted: bool,
    /// Whether the header MAC (over the manifest and every stanza) was
    /// verified: only with a whole-file identity. A grant holder cannot check
    /// it, so for them the manifest rests on signatures alone.
    pub header_mac: bool,
}

impl Checked {
    /// Whether the contents are authenticated: signed by a trusted signer.
    pub fn authenticated(&self) -> bool {
        matches!(self.authenticity, Authenticity::Signed { .. })
    }

    /// One sentence saying what was checked, for people.
    pub fn summary(&self) -> String {
        if let Authenticity::Signed { trusted } = self.authenticity {
            return format!("authenticated: signed by {trusted} trusted signer(s)");
        }
        let why = "not signed by a trusted signer, so anyone could have made it";
        match (self.encrypted, self.header_mac) {
            (false, _) => format!("integrity checked (digests), not authenticated: {why}"),
            (true, true) => format!(
                "integrity checked (digests, chunk tags, header MAC), not authenticated: {why}, \
                 given the recipients' public keys"
            ),
            (true, false) => format!(
                "integrity checked (digests, chunk tags), not authenticated: {why}; without the \
                 header MAC (a grant), tensor names, shapes and metadata are not checked at all"
            ),
        }
    }
}
