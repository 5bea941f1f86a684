//! Hard limits a reader enforces before trusting any count or length.

/// Limits checked while decoding. The defaults are the format's normative maxima;
/// a reader may lower them, never raise them past what it can allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum manifest size in bytes.
    pub max_manifest_bytes: u64,
    /// Maximum number of tensors.
    pub max_tensors: u64,
    /// Maximum number of slices.
    pub max_slices: u64,
    /// Maximum tensor rank.
    pub max_rank: u64,
    /// Maximum name length in bytes (tensor names, metadata keys).
    pub max_name_bytes: u64,
    /// Maximum signature block size in bytes.
    pub max_signature_block_bytes: u64,
    /// Maximum recipient block size in bytes.
    pub max_recipient_block_bytes: u64,
}

impl Limits {
    /// The normative limits (unchanged since format 1).
    pub const V1: Limits = Limits {
        max_manifest_bytes: 64 << 20,
        max_tensors: 1 << 20,
        max_slices: 1 << 20,
        max_rank: 32,
        max_name_bytes: 1024,
        max_signature_block_bytes: 1 << 20,
        max_recipient_block_bytes: 16 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::V1
    }
}
