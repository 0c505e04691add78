//! Classifies the bytes of JSON 64 at a time into bit masks (quotes, backslashes, brackets,
//! colons, line breaks; by AVX2 or SSE2 on x86_64), and which bytes lie inside strings, so that
//! `value_end` visits only the bytes that matter instead of branching on every byte and string.

/// One 64-byte block's masks: bit `i` stands for byte `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Masks {
    pub quote: u64,
    pub backslash: u64,
    /// `{` or `[`.
    pub open: u64,
    /// `}` or `]`.
    pub close: u64,
    pub colon: u64,
    pub line_break: u64,
}

impl Masks {
    /// Adds one lane's bits to each mask. `eq(c, fold)` gives the bits of the lane's bytes equal
    /// to `c` (after clearing bit 0x20 when `fold`), shifted to the lane's place in the block.
    #[inline(always)]
    fn add(&mut self, eq: impl Fn(u8, bool) -> u64) {
        self.quote |= eq(b'"', false);
        self.backslash |= eq(b'\\', false);
        self.open |= eq(FOLDED_OPEN, true);
        self.close |= eq(FOLDED_CLOSE, true);
        self.colon |= eq(b':', false);
        self.line_break |= eq(b'\n', false);
    }
}

/// `{` and `[` (and `}` and `]`) differ only in bit 0x20; clearing it folds each pair into one.
const FOLD: u8 = !0x20;
const FOLDED_OPEN: u8 = b'[' & FOLD;
const FOLDED_CLOSE: u8 = b']' & FOLD;

/// The masks of `block`: by AVX2 where the CPU has it, by SSE2 (part of every x86_64 CPU)
/// otherwise.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
pub fn masks(block: &[u8; 64]) -> Masks {
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above (the answer is cached after the first call).
        unsafe { masks_avx2(block) }
    } else {
        // SAFETY: `masks_sse2` only needs SSE2, which this build's target guarantees (the cfg).
        unsafe { masks_sse2(block) }
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "avx2")]
fn masks_avx2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{__m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8};
    let bits =
        |v: __m256i, c: u8, k: usize| u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8))) as u32) << (32 * k);
    let mut m = Masks::default();
    for (k, half) in block.chunks_exact(32).enumerate() {
        // SAFETY: `half` holds 32 bytes, which is what an unaligned 256-bit load reads.
        let v = unsafe { _mm256_loadu_si256(half.as_ptr().cast()) };
        let folded = _mm256_and_si256(v, _mm256_set1_epi8(FOLD as i8));
        m.add(|c, fold| bits(if fold { folded } else { v }, c, k));
    }
    m
}

/// The masks of `block`, a byte at a time (other CPUs; tested against the SIMD versions).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
pub fn masks(block: &[u8; 64]) -> Masks {
    masks_portable(block)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn masks_sse2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{__m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi8, _mm_set1_epi8};
    let bits = |v: __m128i, c: u8, k: usize| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16) << (16 * k);
    let mut m = Masks::default();
    for (k, c) in block.chunks_exact(16).enumerate() {
        // Compiles to one unaligned load.
        let v = _mm_set_epi8(
            c[15] as i8,
            c[14] as i8,
            c[13] as i8,
            c[12] as i8,
            c[11] as i8,
            c[10] as i8,
            c[9] as i8,
            c[8] as i8,
            c[7] as i8,
            c[6] as i8,
            c[5] as i8,
            c[4] as i8,
            c[3] as i8,
            c[2] as i8,
            c[1] as i8,
            c[0] as i8,
        );
        let folded = _mm_and_si128(v, _mm_set1_epi8(FOLD as i8));
        m.add(|c, fold| bits(if fold { folded } else { v }, c, k));
    }
    m
}

/// The masks of `block`, a byte at a time.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
pub fn masks_portable(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &byte) in block.iter().enumerate() {
        m.add(|c, fold| u64::from((if fold { byte & FOLD } else { byte }) == c) << i);
    }
    m
}

/// The bytes escaped by a backslash (the byte after each odd-numbered backslash of a run), with
/// `carry` true when the previous block ended in such a backslash; updates `carry` for the next.
/// Blocks with a backslash are rare (an escaped quote in an annotation, say): a byte loop does.
#[inline]
pub fn escaped(block: &[u8; 64], backslash: u64, carry: &mut bool) -> u64 {
    if backslash == 0 && !*carry {
        return 0;
    }
    let mut out = 0;
    for (i, &c) in block.iter().enumerate() {
        if std::mem::take(carry) {
            out |= 1 << i;
        } else if c == b'\\' {
            *carry = true;
        }
    }
    out
}

/// Each bit set when an odd number of `quotes` bits are at or below it: with the unescaped
/// quotes, the bytes from an opening quote up to (not including) its closing quote.
#[inline]
pub fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The index of the highest set bit of `x`, which is not 0.
#[inline]
pub fn highest(x: u64) -> usize {
    63 - x.leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simd_masks_are_the_byte_loops_for_every_byte_at_every_position() {
        let mut block = [b'a'; 64];
        for c in 0..=255u8 {
            for i in [0, 1, 15, 16, 31, 32, 47, 48, 63] {
                block[i] = c;
                let expected = masks_portable(&block);
                assert_eq!(masks(&block), expected, "byte {c:#x} at {i}");
                #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
                {
                    // SAFETY: SSE2 is part of every x86_64 CPU; AVX2 is checked first.
                    assert_eq!(unsafe { masks_sse2(&block) }, expected, "SSE2: byte {c:#x} at {i}");
                    if std::arch::is_x86_feature_detected!("avx2") {
                        assert_eq!(unsafe { masks_avx2(&block) }, expected, "AVX2: byte {c:#x} at {i}");
                    }
                }
                block[i] = b'a';
            }
        }
        let text = br#"{"a": [1, {"b\"}": "c\\"}], "d":
 null}   {"#;
        let mut block = [b' '; 64];
        block[..text.len()].copy_from_slice(text);
        let m = masks(&block);
        assert_eq!(m, masks_portable(&block));
        // Brackets inside strings are marked too: which bytes are in strings is decided later.
        assert_eq!((m.open.count_ones(), m.close.count_ones(), m.colon.count_ones(), m.line_break), (4, 4, 3, 1 << 32));
    }

    #[test]
    fn escapes_follow_odd_runs_of_backslashes_across_blocks() {
        let mut block = [b' '; 64];
        block[..6].copy_from_slice(br#"\"\\\x"#);
        block[63] = b'\\';
        let mut carry = false;
        let bs = masks_portable(&block).backslash;
        assert_eq!(escaped(&block, bs, &mut carry), 0b10 | 0b1000 | 0b10_0000);
        assert!(carry, "the last byte's backslash escapes the next block's first");
        let next = [b'"'; 64];
        assert_eq!(escaped(&next, 0, &mut carry), 1);
        assert!(!carry);
    }

    #[test]
    fn strings_are_the_bytes_between_quote_pairs() {
        assert_eq!(prefix_xor(0b1000_0010), 0b0111_1110);
        assert_eq!(prefix_xor(1 << 63), 1 << 63);
        assert_eq!((highest(0b1011), highest(1), highest(1 << 63)), (3, 0, 63));
    }
}
