//! RFC 6962 / RFC 9162 Merkle tree hashing over log lines (leaf `i` is the
//! line with seq `i`, its exact bytes without the `\n`), and the C2SP
//! `tlog-checkpoint` signed note that commits to a tree head.
//!
//! Appending keeps only a [`Frontier`] (one hash per set bit of the size), so
//! memory is O(log n). Proofs are built from the leaf hashes, which the
//! caller re-reads from the log; verification needs only the proof.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// MTH of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node: SHA-256(0x01 || left || right).
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The right edge of a tree being appended to: the roots of its perfect
/// subtrees, largest first (one per set bit of `size`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    stack: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first (one per set bit of the size).
    pub fn stack(&self) -> &[Hash] {
        &self.stack
    }

    /// A frontier from its parts, as a checkpoint line carries them; None
    /// when the number of hashes does not fit the size.
    pub fn from_parts(size: u64, stack: Vec<Hash>) -> Option<Frontier> {
        (stack.len() as u32 == size.count_ones()).then_some(Frontier { size, stack })
    }

    /// Appends one leaf (its data; hashed here).
    pub fn push(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    /// Appends one leaf by its leaf hash.
    pub fn push_hash(&mut self, mut h: Hash) {
        // Each trailing 1 bit of the old size is a perfect subtree the new
        // leaf completes, like a carry in binary addition.
        let mut s = self.size;
        while s & 1 == 1 {
            let l = self.stack.pop().unwrap_or_default();
            h = node_hash(&l, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// Appends a perfect subtree of `2^height` leaves by its root. The size
    /// must be a multiple of `2^height` (the subtree sits where it would in
    /// the whole tree); false, and nothing changes, otherwise. This lets
    /// pieces of a log be hashed apart and joined in O(log n) per piece.
    pub fn push_subtree(&mut self, height: u32, mut h: Hash) -> bool {
        if height >= 64 || self.size & ((1u64 << height) - 1) != 0 {
            return false;
        }
        let mut s = self.size >> height;
        while s & 1 == 1 {
            let l = self.stack.pop().unwrap_or_default();
            h = node_hash(&l, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1u64 << height;
        true
    }

    /// MTH of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, l| node_hash(l, &acc))
    }
}

/// The leaves from global index `start` on, hashed without the tree before
/// them: the perfect subtrees they complete on their own, left to right, as
/// (height, root). Joined onto a [`Frontier`] of size `start` with
/// [`Frontier::push_subtree`] they give the frontier after the last leaf.
#[derive(Debug, Clone, Default)]
pub struct Subtrees {
    next: u64,
    stack: Vec<(u32, Hash)>,
}

impl Subtrees {
    pub fn starting_at(start: u64) -> Subtrees {
        Subtrees {
            next: start,
            stack: Vec::new(),
        }
    }

    /// Appends the next leaf by its leaf hash.
    pub fn push_hash(&mut self, h: Hash) {
        self.push_subtree(0, h);
    }

    /// Appends the perfect subtree of `2^height` leaves at the next index
    /// (which is a multiple of `2^height`) by its root.
    fn push_subtree(&mut self, height: u32, mut h: Hash) {
        let size = 1u64 << height;
        let mut height = height;
        // A right child merges with its left sibling when that sibling lies
        // wholly in this range (it is then the top of the stack).
        while height < 63 && (self.next >> height) & 1 == 1 {
            match self.stack.last() {
                Some(&(sh, l)) if sh == height => {
                    self.stack.pop();
                    h = node_hash(&l, &h);
                    height += 1;
                }
                _ => break,
            }
        }
        self.stack.push((height, h));
        self.next += size;
    }

    /// Appends leaves by their leaf hashes, as many [`Subtrees::push_hash`]
    /// would, hashing the nodes level by level two at a time
    /// ([`super::sha::node_hashes2`]). `leaves` is used as scratch.
    pub fn push_hashes(&mut self, leaves: &mut [Hash]) {
        // The leaves' own perfect subtrees, left to right: those on the
        // left edge come out smallest first, those on the right edge
        // largest first (collected smallest first and reversed).
        let mut left: Vec<(u32, Hash)> = Vec::new();
        let mut right: Vec<(u32, Hash)> = Vec::new();
        let mut lo = self.next;
        let mut cur = leaves;
        let mut height = 0u32;
        while !cur.is_empty() {
            if lo & 1 == 1 {
                left.push((height, cur[0]));
                cur = &mut cur[1..];
                lo += 1;
            }
            if cur.len() & 1 == 1 {
                let last = cur.len() - 1;
                right.push((height, cur[last]));
                cur = &mut cur[..last];
            }
            let pairs = cur.len() / 2;
            let mut i = 0;
            while i + 1 < pairs {
                let [a, b] = super::sha::node_hashes2(
                    &cur[2 * i],
                    &cur[2 * i + 1],
                    &cur[2 * i + 2],
                    &cur[2 * i + 3],
                );
                cur[i] = a;
                cur[i + 1] = b;
                i += 2;
            }
            if i < pairs {
                cur[i] = node_hash(&cur[2 * i], &cur[2 * i + 1]);
            }
            cur = &mut cur[..pairs];
            lo >>= 1;
            height += 1;
        }
        for (h, r) in left.into_iter().chain(right.into_iter().rev()) {
            self.push_subtree(h, r);
        }
    }

    /// The subtrees so far, left to right.
    pub fn parts(&self) -> &[(u32, Hash)] {
        &self.stack
    }

    /// `base` with these subtrees joined on; None if `base` does not end
    /// where they start.
    pub fn join(base: &Frontier, parts: &[(u32, Hash)]) -> Option<Frontier> {
        let mut f = base.clone();
        for &(h, r) in parts {
            if !f.push_subtree(h, r) {
                return None;
            }
        }
        Some(f)
    }
}

/// Largest power of two strictly less than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// RFC 9162 2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf `m`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || m >= n {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = inclusion_proof(m, &leaves[..k]);
        p.push(root_of(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(m - k, &leaves[k..]);
        p.push(root_of(&leaves[..k]));
        p
    }
}

/// RFC 9162 2.1.4.1 PROOF(m, D[n]): the consistency proof from the tree of
/// the first `m` leaves to the tree of all of them.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![root_of(d)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = sub(m, &d[..k], b);
            p.push(root_of(&d[k..]));
            p
        } else {
            let mut p = sub(m - k, &d[k..], false);
            p.push(root_of(&d[..k]));
            p
        }
    }
    if m == 0 || m > leaves.len() {
        return Vec::new();
    }
    sub(m, leaves, true)
}

/// RFC 9162 2.1.3.2: checks that `leaf` is leaf `index` of the tree of
/// `size` leaves with root `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 2.1.4.2: checks that the tree (`size1`, `root1`) is a prefix of
/// the tree (`size2`, `root2`).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> bool {
    if size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if size1 == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *root1 && sr == *root2 && s == 0
}

/// Signed-note key ID for an Ed25519 key (c2sp.org/signed-note):
/// SHA-256(name || 0x0A || 0x01 || key)[:4].
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The keys a note may be signed with, by key name: (key ID, key).
type Candidates<'a> = dyn Fn(&str) -> Vec<([u8; 4], VerifyingKey)> + 'a;

/// A C2SP tlog-checkpoint: origin line, tree size, base64 root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl TreeHead {
    /// The note text (each line ends in a newline).
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root)
        )
    }

    /// The signed note: text, blank line, one Ed25519 signature line whose
    /// key name is the origin.
    pub fn sign(&self, sk: &SigningKey) -> String {
        let text = self.text();
        let sig = sk.sign(text.as_bytes());
        let mut blob = key_id(&self.origin, &sk.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!(
            "{text}\n\u{2014} {} {}\n",
            self.origin,
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    /// Parses a signed checkpoint note and verifies it: a signature line by
    /// `key` under the note's origin as key name must verify; signature lines
    /// from other keys (witness cosignatures) are ignored, as the spec asks.
    pub fn open(note: &str, key: &VerifyingKey) -> Result<TreeHead, String> {
        TreeHead::open_with(note, &|origin| vec![(key_id(origin, key), *key)]).map(|(t, _)| t)
    }

    /// As [`TreeHead::open`], with any epoch's key of a forward-secure key
    /// (`KEY.pub`): the signature line's key ID names the epoch. Returns the
    /// tree head and that epoch.
    pub fn open_epochs(
        note: &str,
        keys: &super::keys::PublicKeys,
    ) -> Result<(TreeHead, u64), String> {
        let (th, vk) = TreeHead::open_with(note, &|origin| {
            (0..keys.len())
                .filter_map(|e| keys.get(e))
                .map(|k| (key_id(origin, &k), k))
                .collect()
        })?;
        let e = (0..keys.len())
            .find(|&e| keys.raw(e) == Some(vk.as_bytes()))
            .unwrap_or(0);
        Ok((th, e))
    }

    fn open_with(
        note: &str,
        candidates: &Candidates<'_>,
    ) -> Result<(TreeHead, VerifyingKey), String> {
        let (text, sigs) = note
            .split_once("\n\n")
            .ok_or("not a signed note: no blank line before the signatures")?;
        let text = format!("{text}\n");
        if note.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err("note contains control characters".into());
        }
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or("no origin line")?;
        let size: u64 = lines
            .next()
            .and_then(|s| {
                (s == "0" || !s.starts_with('0'))
                    .then(|| s.parse().ok())
                    .flatten()
            })
            .ok_or("tree size is not a canonical decimal")?;
        let root: Hash = lines
            .next()
            .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or("root hash is not 32 bytes of base64")?;
        let cands = candidates(origin);
        let mut verified = None;
        for line in sigs.lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or("signature line does not start with an em dash")?;
            let (name, b64) = rest.split_once(' ').ok_or("malformed signature line")?;
            let blob = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "signature is not base64")?;
            if name != origin || blob.len() != 68 {
                continue;
            }
            // A 4-byte key ID can collide between two trusted keys (two
            // epochs of one log): the line is good if any of them verifies it.
            let mut same_id = cands
                .iter()
                .filter(|(id, _)| blob[..4] == id[..])
                .peekable();
            if same_id.peek().is_none() {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..]).map_err(|_| "bad signature bytes")?;
            let key = same_id
                .map(|(_, k)| k)
                .find(|k| k.verify_strict(text.as_bytes(), &sig).is_ok())
                .ok_or("the log key's signature on the checkpoint does not verify")?;
            verified = Some(*key);
        }
        let Some(vk) = verified else {
            let ids = cands
                .iter()
                .take(1)
                .map(|(id, _)| hex::encode(id))
                .collect::<Vec<_>>()
                .join(",");
            return Err(format!(
                "no signature by the given key (name {origin}, key ID {ids})"
            ));
        };
        Ok((
            TreeHead {
                origin: origin.to_string(),
                size,
                root,
            },
            vk,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trusted keys under one key ID (a 1-in-2^32 chance per pair of a
    /// log's epochs): the note opens under whichever of them signed it, and
    /// a signature neither made is still refused.
    #[test]
    fn colliding_key_ids_try_every_matching_key() {
        let a = SigningKey::from_bytes(&[1; 32]);
        let b = SigningKey::from_bytes(&[2; 32]);
        let th = TreeHead {
            origin: "example.org/log".into(),
            size: 3,
            root: [9; 32],
        };
        let note = th.sign(&b);
        let id = key_id(&th.origin, &b.verifying_key());
        let both = |_: &str| vec![(id, a.verifying_key()), (id, b.verifying_key())];
        let (got, vk) = TreeHead::open_with(&note, &both).expect("b's signature, found second");
        assert_eq!((got, vk), (th.clone(), b.verifying_key()));
        let only_a = |_: &str| vec![(id, a.verifying_key())];
        assert!(TreeHead::open_with(&note, &only_a).is_err());
    }
}
