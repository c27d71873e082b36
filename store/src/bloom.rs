//! Per-file Bloom filters over trace ids: trace-by-id reads open only the files that may hold
//! the trace. Written next to each trace-document file as `<file>.bloom`, loaded on first use
//! and kept in memory (about 1.2 bytes per distinct trace).
//!
//! Format: `FLBLM001`, u32 LE hash count, u32 LE word count, then the words (u64 LE).

/// Bits per distinct key: with 7 hashes about a 1 % false-positive rate.
const BITS_PER_KEY: usize = 10;
const HASHES: u32 = 7;
const MAGIC: &[u8; 8] = b"FLBLM001";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBloom {
    words: Vec<u64>,
    hashes: u32,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl TraceBloom {
    pub fn with_capacity(keys: usize) -> Self {
        let words = (keys.max(1) * BITS_PER_KEY).div_ceil(64).max(1);
        Self { words: vec![0; words], hashes: HASHES }
    }

    fn positions(&self, key: &[u8; 16]) -> impl Iterator<Item = usize> + use<> {
        let hi = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let lo = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let h1 = splitmix(hi ^ splitmix(lo));
        let h2 = splitmix(lo.rotate_left(17) ^ hi) | 1;
        let bits = (self.words.len() * 64) as u64;
        (0..self.hashes as u64).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    pub fn insert(&mut self, key: &[u8; 16]) {
        for bit in self.positions(key) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    pub fn contains(&self, key: &[u8; 16]) -> bool {
        self.positions(key).all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.words.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&(self.words.len() as u32).to_le_bytes());
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return None;
        }
        let hashes = u32::from_le_bytes(bytes[8..12].try_into().ok()?);
        let count = u32::from_le_bytes(bytes[12..16].try_into().ok()?) as usize;
        let body = &bytes[16..];
        if count == 0 || body.len() != count * 8 || hashes == 0 || hashes > 32 {
            return None;
        }
        let words = body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        Some(Self { words, hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&(0x65a0_0000_u64 << 32 | i).to_le_bytes());
        k[8..].copy_from_slice(&splitmix(i).to_le_bytes());
        k
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut bloom = TraceBloom::with_capacity(10_000);
        for i in 0..10_000 {
            bloom.insert(&key(i));
        }
        assert!((0..10_000).all(|i| bloom.contains(&key(i))));
        let false_positives = (10_000..110_000).filter(|i| bloom.contains(&key(*i))).count();
        assert!(false_positives < 2_000, "{false_positives} false positives in 100,000");
        let round_trip = TraceBloom::from_bytes(&bloom.to_bytes()).unwrap();
        assert_eq!(round_trip, bloom);
        assert!(TraceBloom::from_bytes(&bloom.to_bytes()[..20]).is_none());
    }
}
