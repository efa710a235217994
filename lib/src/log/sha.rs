//! Two SHA-256 hashes at a time on one core, for verify's RFC 6962 leaf and
//! node hashes.
//!
//! `sha256rnds2` is latency-bound on one message: each pair of rounds waits
//! for the previous pair. Two independent messages (the leaves of two lines,
//! two nodes of one tree level) interleaved on one core keep the SHA unit
//! busy in those waits, which roughly doubles the throughput per core. No
//! crate offers that (sha2's `compress256` runs many blocks of one state),
//! so the x86-64 SHA-NI path is here, detected at run time; everywhere else,
//! and on CPUs without SHA-NI, the sha2 crate computes the same digests.
//!
//! The message is `prefix || data` (0x00 for a leaf, 0x01 for a node) and is
//! never copied whole: inner blocks are read where they lie in `data`; only
//! the first and the padded last blocks go through a 64-byte scratch block.

use super::Hash;
use sha2::{Digest, Sha256};

/// SHA-256(prefix || data) with the sha2 crate (one message).
fn one(prefix: u8, data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([prefix]);
    h.update(data);
    h.finalize().into()
}

/// The RFC 6962 leaf hashes SHA-256(0x00 || a) and SHA-256(0x00 || b).
pub fn leaf_hashes2(a: &[u8], b: &[u8]) -> [Hash; 2] {
    hash2(0, a, b)
}

/// The RFC 6962 node hashes SHA-256(0x01 || l0 || r0) and
/// SHA-256(0x01 || l1 || r1).
pub fn node_hashes2(l0: &Hash, r0: &Hash, l1: &Hash, r1: &Hash) -> [Hash; 2] {
    let mut a = [0u8; 64];
    a[..32].copy_from_slice(l0);
    a[32..].copy_from_slice(r0);
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(l1);
    b[32..].copy_from_slice(r1);
    hash2(1, &a, &b)
}

/// SHA-256(prefix || a) and SHA-256(prefix || b).
pub fn hash2(prefix: u8, a: &[u8], b: &[u8]) -> [Hash; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if ni::available() {
            // SAFETY: `available` checked at run time that this CPU has
            // every feature `ni::hash2` is compiled for.
            return unsafe { ni::hash2(prefix, a, b) };
        }
    }
    [one(prefix, a), one(prefix, b)]
}

/// Number of 64-byte blocks of a padded message of `len` bytes.
fn blocks(len: usize) -> usize {
    (len + 8) / 64 + 1
}

/// Block `j` of the padded message `prefix || data`: a view into `data`
/// when the block lies wholly inside it, else assembled in `scratch`.
fn block<'a>(prefix: u8, data: &'a [u8], j: usize, scratch: &'a mut [u8; 64]) -> &'a [u8; 64] {
    let len = data.len() + 1;
    let start = 64 * j;
    if start >= 1 && start + 64 <= len {
        if let Ok(b) = <&[u8; 64]>::try_from(&data[start - 1..start + 63]) {
            return b;
        }
    }
    *scratch = [0; 64];
    let mut pos = 0;
    let mut k = start;
    if k == 0 {
        scratch[0] = prefix;
        pos = 1;
        k = 1;
    }
    let end = len.min(start + 64);
    if k < end {
        let src = &data[k - 1..end - 1];
        scratch[pos..pos + src.len()].copy_from_slice(src);
    }
    if (start..start + 64).contains(&len) {
        scratch[len - start] = 0x80;
    }
    if j + 1 == blocks(len) {
        scratch[56..].copy_from_slice(&(len as u64 * 8).to_be_bytes());
    }
    scratch
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use super::{block, blocks, Hash};
    use core::arch::x86_64::*;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse2")
            && is_x86_feature_detected!("ssse3")
            && is_x86_feature_detected!("sse4.1")
    }

    /// FIPS 180-4 round constants.
    static K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// FIPS 180-4 initial hash value H(0), a..h.
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// The state as `sha256rnds2` keeps it: (A,B,E,F) and (C,D,G,H), the
    /// first letter in the highest 32-bit lane.
    type State = [__m128i; 2];

    /// SHA-256 of `prefix || a` and `prefix || b`: blocks of both in
    /// lockstep while both have one, then the longer one alone.
    ///
    /// # Safety
    /// The CPU must have SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn hash2(prefix: u8, a: &[u8], b: &[u8]) -> [Hash; 2] {
        let init = init();
        let (mut sa, mut sb) = (init, init);
        let (na, nb) = (blocks(a.len() + 1), blocks(b.len() + 1));
        let (mut ka, mut kb) = ([0u8; 64], [0u8; 64]);
        for j in 0..na.min(nb) {
            let ba = block(prefix, a, j, &mut ka);
            let bb = block(prefix, b, j, &mut kb);
            compress2(&mut sa, &mut sb, ba, bb);
        }
        for j in nb..na {
            compress1(&mut sa, block(prefix, a, j, &mut ka));
        }
        for j in na..nb {
            compress1(&mut sb, block(prefix, b, j, &mut kb));
        }
        [digest(&sa), digest(&sb)]
    }

    #[target_feature(enable = "sse2")]
    fn init() -> State {
        let [a, b, c, d, e, f, g, h] = H0.map(|w| w as i32);
        [_mm_set_epi32(a, b, e, f), _mm_set_epi32(c, d, g, h)]
    }

    #[target_feature(enable = "sse2")]
    fn digest(s: &State) -> Hash {
        let (mut abef, mut cdgh) = ([0u32; 4], [0u32; 4]);
        // SAFETY: each array is 16 bytes, written unaligned.
        unsafe {
            _mm_storeu_si128(abef.as_mut_ptr().cast(), s[0]);
            _mm_storeu_si128(cdgh.as_mut_ptr().cast(), s[1]);
        }
        let words = [
            abef[3], abef[2], cdgh[3], cdgh[2], abef[1], abef[0], cdgh[1], cdgh[0],
        ];
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// Big-endian 32-bit words from 16 bytes of a block.
    macro_rules! load {
        ($blk:expr, $i:expr, $mask:expr) => {
            // SAFETY: `$blk` is a &[u8; 64] and $i < 4, so the 16 bytes
            // at 16*$i are in bounds; loadu has no alignment need.
            _mm_shuffle_epi8(
                unsafe { _mm_loadu_si128($blk.as_ptr().add(16 * $i).cast()) },
                $mask,
            )
        };
    }

    /// Four rounds: `$s0` is (A,B,E,F), `$s1` (C,D,G,H) before and after.
    macro_rules! rounds4 {
        ($s0:ident, $s1:ident, $wk:expr) => {
            let wk = $wk;
            $s1 = _mm_sha256rnds2_epu32($s1, $s0, wk);
            $s0 = _mm_sha256rnds2_epu32($s0, $s1, _mm_shuffle_epi32(wk, 0x0e));
        };
    }

    /// W[t..t+4] from W[t-16..t]: `$m0` holds W[t-16..t-12], `$m3` W[t-4..t].
    macro_rules! schedule {
        ($m0:expr, $m1:expr, $m2:expr, $m3:expr) => {
            _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32($m0, $m1), _mm_alignr_epi8($m3, $m2, 4)),
                $m3,
            )
        };
    }

    /// K[4i..4i+4].
    macro_rules! k4 {
        ($i:expr) => {
            // SAFETY: $i < 16, so 4*$i + 4 <= 64 words of K.
            unsafe { _mm_loadu_si128(K.as_ptr().add(4 * $i).cast()) }
        };
    }

    /// W[t] + K[t] for the 64 rounds of one block, four per vector. The
    /// schedule does not depend on the state, so it is computed first and
    /// kept in memory: only the state stays in registers through the
    /// latency-bound rounds (written interleaved, the two lanes' schedules
    /// and states did not fit the 16 registers `sha256rnds2` can use, and
    /// the state went through the stack on every round).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline(never)]
    fn wk(blk: &[u8; 64]) -> [__m128i; 16] {
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let (mut m0, mut m1, mut m2, mut m3) = (
            load!(blk, 0, mask),
            load!(blk, 1, mask),
            load!(blk, 2, mask),
            load!(blk, 3, mask),
        );
        let mut w = [_mm_setzero_si128(); 16];
        w[0] = _mm_add_epi32(m0, k4!(0));
        m0 = schedule!(m0, m1, m2, m3);
        w[1] = _mm_add_epi32(m1, k4!(1));
        m1 = schedule!(m1, m2, m3, m0);
        w[2] = _mm_add_epi32(m2, k4!(2));
        m2 = schedule!(m2, m3, m0, m1);
        w[3] = _mm_add_epi32(m3, k4!(3));
        m3 = schedule!(m3, m0, m1, m2);
        w[4] = _mm_add_epi32(m0, k4!(4));
        m0 = schedule!(m0, m1, m2, m3);
        w[5] = _mm_add_epi32(m1, k4!(5));
        m1 = schedule!(m1, m2, m3, m0);
        w[6] = _mm_add_epi32(m2, k4!(6));
        m2 = schedule!(m2, m3, m0, m1);
        w[7] = _mm_add_epi32(m3, k4!(7));
        m3 = schedule!(m3, m0, m1, m2);
        w[8] = _mm_add_epi32(m0, k4!(8));
        m0 = schedule!(m0, m1, m2, m3);
        w[9] = _mm_add_epi32(m1, k4!(9));
        m1 = schedule!(m1, m2, m3, m0);
        w[10] = _mm_add_epi32(m2, k4!(10));
        m2 = schedule!(m2, m3, m0, m1);
        w[11] = _mm_add_epi32(m3, k4!(11));
        m3 = schedule!(m3, m0, m1, m2);
        w[12] = _mm_add_epi32(m0, k4!(12));
        w[13] = _mm_add_epi32(m1, k4!(13));
        w[14] = _mm_add_epi32(m2, k4!(14));
        w[15] = _mm_add_epi32(m3, k4!(15));
        w
    }

    /// K as the rounds read it: 16-byte aligned, for `paddd` from memory.
    #[repr(align(16))]
    struct Aligned([u32; 64]);
    static KA: Aligned = Aligned(K);

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress2(sa: &mut State, sb: &mut State, ba: &[u8; 64], bb: &[u8; 64]) {
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let (mut am0, mut am1, mut am2, mut am3) = (
            load!(ba, 0, mask),
            load!(ba, 1, mask),
            load!(ba, 2, mask),
            load!(ba, 3, mask),
        );
        let (mut bm0, mut bm1, mut bm2, mut bm3) = (
            load!(bb, 0, mask),
            load!(bb, 1, mask),
            load!(bb, 2, mask),
            load!(bb, 3, mask),
        );
        let (mut a0, mut a1, mut b0, mut b1) = (sa[0], sa[1], sb[0], sb[1]);
        // In assembly, because the two lanes' states and message words
        // need 14 of the 16 registers `sha256rnds2` can name (it takes
        // W+K in xmm0): with intrinsics the compiler kept the states on the
        // stack, a store and a load on every round's critical path. Each
        // step: four rounds of lane a, four of lane b (independent, so the
        // core overlaps them), then both lanes' next four message words.
        // SAFETY: the CPU has SHA and SSE4.1 (this function's target
        // features, which the caller checked); the code reads the 256
        // aligned bytes of KA and nothing else from memory, writes only the
        // named registers, and touches neither the stack nor the flags.
        unsafe {
            core::arch::asm!(
                "movdqa xmm0, {am0}",
                "paddd xmm0, xmmword ptr [{k} + 0]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm0}",
                "paddd xmm0, xmmword ptr [{k} + 0]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am0}, {am1}",
                "movdqa {t}, {am3}",
                "palignr {t}, {am2}, 4",
                "paddd {am0}, {t}",
                "sha256msg2 {am0}, {am3}",
                "sha256msg1 {bm0}, {bm1}",
                "movdqa {t}, {bm3}",
                "palignr {t}, {bm2}, 4",
                "paddd {bm0}, {t}",
                "sha256msg2 {bm0}, {bm3}",
                "movdqa xmm0, {am1}",
                "paddd xmm0, xmmword ptr [{k} + 16]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm1}",
                "paddd xmm0, xmmword ptr [{k} + 16]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am1}, {am2}",
                "movdqa {t}, {am0}",
                "palignr {t}, {am3}, 4",
                "paddd {am1}, {t}",
                "sha256msg2 {am1}, {am0}",
                "sha256msg1 {bm1}, {bm2}",
                "movdqa {t}, {bm0}",
                "palignr {t}, {bm3}, 4",
                "paddd {bm1}, {t}",
                "sha256msg2 {bm1}, {bm0}",
                "movdqa xmm0, {am2}",
                "paddd xmm0, xmmword ptr [{k} + 32]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm2}",
                "paddd xmm0, xmmword ptr [{k} + 32]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am2}, {am3}",
                "movdqa {t}, {am1}",
                "palignr {t}, {am0}, 4",
                "paddd {am2}, {t}",
                "sha256msg2 {am2}, {am1}",
                "sha256msg1 {bm2}, {bm3}",
                "movdqa {t}, {bm1}",
                "palignr {t}, {bm0}, 4",
                "paddd {bm2}, {t}",
                "sha256msg2 {bm2}, {bm1}",
                "movdqa xmm0, {am3}",
                "paddd xmm0, xmmword ptr [{k} + 48]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm3}",
                "paddd xmm0, xmmword ptr [{k} + 48]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am3}, {am0}",
                "movdqa {t}, {am2}",
                "palignr {t}, {am1}, 4",
                "paddd {am3}, {t}",
                "sha256msg2 {am3}, {am2}",
                "sha256msg1 {bm3}, {bm0}",
                "movdqa {t}, {bm2}",
                "palignr {t}, {bm1}, 4",
                "paddd {bm3}, {t}",
                "sha256msg2 {bm3}, {bm2}",
                "movdqa xmm0, {am0}",
                "paddd xmm0, xmmword ptr [{k} + 64]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm0}",
                "paddd xmm0, xmmword ptr [{k} + 64]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am0}, {am1}",
                "movdqa {t}, {am3}",
                "palignr {t}, {am2}, 4",
                "paddd {am0}, {t}",
                "sha256msg2 {am0}, {am3}",
                "sha256msg1 {bm0}, {bm1}",
                "movdqa {t}, {bm3}",
                "palignr {t}, {bm2}, 4",
                "paddd {bm0}, {t}",
                "sha256msg2 {bm0}, {bm3}",
                "movdqa xmm0, {am1}",
                "paddd xmm0, xmmword ptr [{k} + 80]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm1}",
                "paddd xmm0, xmmword ptr [{k} + 80]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am1}, {am2}",
                "movdqa {t}, {am0}",
                "palignr {t}, {am3}, 4",
                "paddd {am1}, {t}",
                "sha256msg2 {am1}, {am0}",
                "sha256msg1 {bm1}, {bm2}",
                "movdqa {t}, {bm0}",
                "palignr {t}, {bm3}, 4",
                "paddd {bm1}, {t}",
                "sha256msg2 {bm1}, {bm0}",
                "movdqa xmm0, {am2}",
                "paddd xmm0, xmmword ptr [{k} + 96]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm2}",
                "paddd xmm0, xmmword ptr [{k} + 96]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am2}, {am3}",
                "movdqa {t}, {am1}",
                "palignr {t}, {am0}, 4",
                "paddd {am2}, {t}",
                "sha256msg2 {am2}, {am1}",
                "sha256msg1 {bm2}, {bm3}",
                "movdqa {t}, {bm1}",
                "palignr {t}, {bm0}, 4",
                "paddd {bm2}, {t}",
                "sha256msg2 {bm2}, {bm1}",
                "movdqa xmm0, {am3}",
                "paddd xmm0, xmmword ptr [{k} + 112]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm3}",
                "paddd xmm0, xmmword ptr [{k} + 112]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am3}, {am0}",
                "movdqa {t}, {am2}",
                "palignr {t}, {am1}, 4",
                "paddd {am3}, {t}",
                "sha256msg2 {am3}, {am2}",
                "sha256msg1 {bm3}, {bm0}",
                "movdqa {t}, {bm2}",
                "palignr {t}, {bm1}, 4",
                "paddd {bm3}, {t}",
                "sha256msg2 {bm3}, {bm2}",
                "movdqa xmm0, {am0}",
                "paddd xmm0, xmmword ptr [{k} + 128]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm0}",
                "paddd xmm0, xmmword ptr [{k} + 128]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am0}, {am1}",
                "movdqa {t}, {am3}",
                "palignr {t}, {am2}, 4",
                "paddd {am0}, {t}",
                "sha256msg2 {am0}, {am3}",
                "sha256msg1 {bm0}, {bm1}",
                "movdqa {t}, {bm3}",
                "palignr {t}, {bm2}, 4",
                "paddd {bm0}, {t}",
                "sha256msg2 {bm0}, {bm3}",
                "movdqa xmm0, {am1}",
                "paddd xmm0, xmmword ptr [{k} + 144]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm1}",
                "paddd xmm0, xmmword ptr [{k} + 144]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am1}, {am2}",
                "movdqa {t}, {am0}",
                "palignr {t}, {am3}, 4",
                "paddd {am1}, {t}",
                "sha256msg2 {am1}, {am0}",
                "sha256msg1 {bm1}, {bm2}",
                "movdqa {t}, {bm0}",
                "palignr {t}, {bm3}, 4",
                "paddd {bm1}, {t}",
                "sha256msg2 {bm1}, {bm0}",
                "movdqa xmm0, {am2}",
                "paddd xmm0, xmmword ptr [{k} + 160]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm2}",
                "paddd xmm0, xmmword ptr [{k} + 160]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am2}, {am3}",
                "movdqa {t}, {am1}",
                "palignr {t}, {am0}, 4",
                "paddd {am2}, {t}",
                "sha256msg2 {am2}, {am1}",
                "sha256msg1 {bm2}, {bm3}",
                "movdqa {t}, {bm1}",
                "palignr {t}, {bm0}, 4",
                "paddd {bm2}, {t}",
                "sha256msg2 {bm2}, {bm1}",
                "movdqa xmm0, {am3}",
                "paddd xmm0, xmmword ptr [{k} + 176]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm3}",
                "paddd xmm0, xmmword ptr [{k} + 176]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "sha256msg1 {am3}, {am0}",
                "movdqa {t}, {am2}",
                "palignr {t}, {am1}, 4",
                "paddd {am3}, {t}",
                "sha256msg2 {am3}, {am2}",
                "sha256msg1 {bm3}, {bm0}",
                "movdqa {t}, {bm2}",
                "palignr {t}, {bm1}, 4",
                "paddd {bm3}, {t}",
                "sha256msg2 {bm3}, {bm2}",
                "movdqa xmm0, {am0}",
                "paddd xmm0, xmmword ptr [{k} + 192]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm0}",
                "paddd xmm0, xmmword ptr [{k} + 192]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "movdqa xmm0, {am1}",
                "paddd xmm0, xmmword ptr [{k} + 208]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm1}",
                "paddd xmm0, xmmword ptr [{k} + 208]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "movdqa xmm0, {am2}",
                "paddd xmm0, xmmword ptr [{k} + 224]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm2}",
                "paddd xmm0, xmmword ptr [{k} + 224]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                "movdqa xmm0, {am3}",
                "paddd xmm0, xmmword ptr [{k} + 240]",
                "sha256rnds2 {a1}, {a0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {a0}, {a1}, xmm0",
                "movdqa xmm0, {bm3}",
                "paddd xmm0, xmmword ptr [{k} + 240]",
                "sha256rnds2 {b1}, {b0}, xmm0",
                "pshufd xmm0, xmm0, 0x0e",
                "sha256rnds2 {b0}, {b1}, xmm0",
                k = in(reg) KA.0.as_ptr(),
                a0 = inout(xmm_reg) a0,
                a1 = inout(xmm_reg) a1,
                b0 = inout(xmm_reg) b0,
                b1 = inout(xmm_reg) b1,
                am0 = inout(xmm_reg) am0,
                am1 = inout(xmm_reg) am1,
                am2 = inout(xmm_reg) am2,
                am3 = inout(xmm_reg) am3,
                bm0 = inout(xmm_reg) bm0,
                bm1 = inout(xmm_reg) bm1,
                bm2 = inout(xmm_reg) bm2,
                bm3 = inout(xmm_reg) bm3,
                t = out(xmm_reg) _,
                out("xmm0") _,
                options(nostack, preserves_flags, readonly),
            );
        }
        let _ = (am0, am1, am2, am3, bm0, bm1, bm2, bm3);
        sa[0] = _mm_add_epi32(sa[0], a0);
        sa[1] = _mm_add_epi32(sa[1], a1);
        sb[0] = _mm_add_epi32(sb[0], b0);
        sb[1] = _mm_add_epi32(sb[1], b1);
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress1(s: &mut State, blk: &[u8; 64]) {
        let (mut s0, mut s1) = (s[0], s[1]);
        for x in wk(blk) {
            rounds4!(s0, s1, x);
        }
        s[0] = _mm_add_epi32(s[0], s0);
        s[1] = _mm_add_epi32(s[1], s1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(prefix: u8, data: &[u8]) -> Hash {
        let mut m = vec![prefix];
        m.extend_from_slice(data);
        Sha256::digest(&m).into()
    }

    /// The scalar path of the same function, whatever the CPU.
    fn both(prefix: u8, a: &[u8], b: &[u8]) {
        let got = hash2(prefix, a, b);
        assert_eq!(
            got,
            [reference(prefix, a), reference(prefix, b)],
            "{} / {}",
            a.len(),
            b.len()
        );
        let swapped = hash2(prefix, b, a);
        assert_eq!(swapped, [got[1], got[0]]);
    }

    /// FIPS 180-2 appendix B vectors. The module hashes `prefix || data`,
    /// so the message's first byte is the prefix.
    #[test]
    fn known_answers() {
        let hex = |h: Hash| hex::encode(h);
        let [abc, abc2] = hash2(b'a', b"bc", b"bc");
        assert_eq!(
            hex(abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(abc, abc2);
        let m448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let [long, short] = hash2(m448[0], &m448[1..], b"bc");
        assert_eq!(
            hex(long),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(short, abc);
        // The 896-bit message of FIPS 180-2's SHA-384/512 vectors: its
        // padding takes a block of its own.
        let m896 = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        let [l896, l448] = hash2(b'a', &m896[1..], &m448[1..]);
        assert_eq!(
            hex(l896),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        );
        assert_eq!(l448, long);
        // The empty message has no first byte to pass as the prefix; the
        // shortest this module hashes is one byte (the empty leaf).
        assert_eq!(
            hex(hash2(0, b"", b"")[0]),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        // RFC 6962 leaf and node hashes agree with merkle's scalar ones.
        let l = super::super::merkle::leaf_hash(b"line");
        assert_eq!(leaf_hashes2(b"line", b"")[0], l);
        assert_eq!(
            node_hashes2(&l, &abc, &abc, &l),
            [
                super::super::merkle::node_hash(&l, &abc),
                super::super::merkle::node_hash(&abc, &l)
            ]
        );
    }

    /// Lengths where the padding moves: prefix + data of 55, 56, 63, 64,
    /// 119, 120 bytes (and their neighbours), in every pairing.
    #[test]
    fn padding_edges() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        let edges = [
            0, 1, 53, 54, 55, 56, 57, 62, 63, 64, 65, 118, 119, 120, 121, 127, 128, 129,
        ];
        for &x in &edges {
            for &y in &edges {
                both(0, &data[..x], &data[7..7 + y]);
                both(1, &data[3..3 + x], &data[..y]);
            }
        }
    }

    proptest! {
        #[test]
        fn matches_sha2(a in proptest::collection::vec(any::<u8>(), 0..2000),
                        b in proptest::collection::vec(any::<u8>(), 0..2000),
                        prefix in any::<u8>()) {
            let got = hash2(prefix, &a, &b);
            prop_assert_eq!(got, [reference(prefix, &a), reference(prefix, &b)]);
        }
    }
}
