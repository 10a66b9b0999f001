//! Verification: the record digest both sides are compared by (pure), and the verifier that
//! reads source and target in step from where the last verification stopped, comparing every
//! record's content and its place in the map.

use super::cursor::Cursor;
use super::error::DisklessError;
use super::journal::{save, DisklessJournal, PartitionRecord};
use super::map::OffsetMap;
use crate::kafka::records::DataCluster;
use crate::kafka::Record;
use crate::run::progress::{Progress, Stage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// SHA-256 over a record's key, value, headers (in order, nulls distinct from empty) and
/// timestamp — what a consumer can observe apart from the offset.
pub fn record_digest(r: &Record) -> [u8; 32] {
    fn field(h: &mut Sha256, v: Option<&[u8]>) {
        match v {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
    let mut h = Sha256::new();
    h.update(r.timestamp.unwrap_or(-1).to_be_bytes());
    field(&mut h, r.key.as_deref());
    field(&mut h, r.value.as_deref());
    h.update((r.headers.len() as u64).to_be_bytes());
    for (k, v) in &r.headers {
        field(&mut h, Some(k.as_bytes()));
        field(&mut h, v.as_deref());
    }
    h.finalize().into()
}

/// A running hash over record digests: `chain' = SHA-256(chain || digest)`, so a verification
/// can continue where the last one stopped.
pub fn chain(prev: &str, digest: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(digest);
    hex(&h.finalize())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One difference the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub topic: String,
    pub partition: i32,
    pub source_offset: Option<i64>,
    pub target_offset: Option<i64>,
    pub what: String,
}

/// Compare one source record with the target record found in step with it.
pub fn compare(
    map: &OffsetMap,
    source: Option<&Record>,
    target: Option<&Record>,
) -> Option<Difference> {
    let (t, p) = source
        .or(target)
        .map(|r| (r.topic.clone(), r.partition))
        .unwrap_or_default();
    let diff = |what: String| {
        Some(Difference {
            topic: t.clone(),
            partition: p,
            source_offset: source.map(|r| r.offset),
            target_offset: target.map(|r| r.offset),
            what,
        })
    };
    match (source, target) {
        (None, None) => None,
        (Some(s), None) => diff(format!(
            "source offset {} has no copy on the target",
            s.offset
        )),
        (None, Some(r)) => diff(format!(
            "target offset {} has no source record (extra on the target)",
            r.offset
        )),
        (Some(s), Some(r)) => {
            if map.target_of(s.offset) != Some(r.offset) {
                return diff(format!(
                    "the map puts source offset {} at {:?}, the target has the next record at {}",
                    s.offset,
                    map.target_of(s.offset),
                    r.offset
                ));
            }
            if record_digest(s) != record_digest(r) {
                let mut what = Vec::new();
                if s.key != r.key {
                    what.push("key");
                }
                if s.value != r.value {
                    what.push("value");
                }
                if s.headers != r.headers {
                    what.push("headers");
                }
                if s.timestamp != r.timestamp {
                    what.push("timestamp");
                }
                return diff(format!("{} differ", what.join(", ")));
            }
            None
        }
    }
}

/// Per partition, what the verifier found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionCheck {
    pub topic: String,
    pub partition: i32,
    pub records: u64,
    pub source_end: i64,
    pub target_end: i64,
    pub source_hash: String,
    pub target_hash: String,
    pub ok: bool,
}

impl PartitionCheck {
    /// A partition no longer read (deleted on the source while followed): what was verified
    /// stands.
    pub fn kept(p: &PartitionRecord) -> Self {
        let v = p.verified_so_far();
        Self {
            topic: p.topic.clone(),
            partition: p.partition,
            records: v.records,
            source_end: v.source_end,
            target_end: v.target_end,
            source_hash: v.source_hash,
            target_hash: v.target_hash,
            ok: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub partitions: Vec<PartitionCheck>,
    /// The first differences (at most 20 per partition).
    pub differences: Vec<Difference>,
    pub ok: bool,
}

/// Read both sides in step from where the last verification stopped up to where the copy is
/// complete; compare every record (content and map), chain both hashes.
pub fn verify(
    j: &mut DisklessJournal,
    path: &Path,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    stall: Duration,
    progress: &dyn Progress,
) -> Result<VerifyReport, DisklessError> {
    let mut out = Vec::new();
    let mut differences = Vec::new();
    let total = j.partitions.len() as u64;
    for (i, p) in j.partitions.iter_mut().enumerate() {
        progress.update(i as u64, total, 1, &Stage::Verifying);
        let v = p.verified_so_far();
        let s_end = p.caught_up_to;
        let t_end = p.target_next();
        if p.source_deleted {
            out.push(PartitionCheck::kept(p));
            continue;
        }
        let mut s = Cursor::open(src, true, &p.topic, p.partition, v.source_end, s_end, stall)?;
        let mut t = Cursor::open(
            tgt,
            false,
            &p.topic,
            p.partition,
            v.target_end,
            t_end,
            stall,
        )?;
        let mut nv = v.clone();
        let mut diffs = Vec::new();
        loop {
            let (a, b) = (s.next()?, t.next()?);
            if a.is_none() && b.is_none() {
                break;
            }
            if let Some(d) = compare(&p.map, a.as_ref(), b.as_ref()) {
                if diffs.len() < 20 {
                    diffs.push(d);
                }
                continue;
            }
            let (a, b) = (a.expect("compared"), b.expect("compared"));
            nv.source_hash = chain(&nv.source_hash, &record_digest(&a));
            nv.target_hash = chain(&nv.target_hash, &record_digest(&b));
            nv.records += 1;
        }
        let ok = diffs.is_empty();
        if ok {
            nv.source_end = s_end;
            nv.target_end = t_end;
            p.verified = Some(nv.clone());
        }
        out.push(PartitionCheck {
            topic: p.topic.clone(),
            partition: p.partition,
            records: nv.records,
            source_end: s_end,
            target_end: t_end,
            source_hash: nv.source_hash.clone(),
            target_hash: nv.target_hash.clone(),
            ok,
        });
        differences.extend(diffs);
    }
    save(j, path)?;
    progress.finish();
    Ok(VerifyReport {
        ok: differences.is_empty(),
        partitions: out,
        differences,
    })
}

#[cfg(test)]
mod tests {
    //! The copy engine over an in-memory cluster pair: source offsets with gaps (markers,
    //! aborted records), a crash between the target's write and the journal's save, another
    //! writer on the target, and the cutover's fences. The live tests run the same paths against
    //! Kafka and nisshi.
    use super::*;

    fn rec(offset: i64, value: &[u8]) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: Some(1_000),
            key: Some(b"k".to_vec()),
            value: Some(value.to_vec()),
            headers: vec![("h".into(), None)],
        }
    }

    #[test]
    fn digest_sees_every_field_and_null_headers() {
        let a = rec(0, b"v");
        let mut b = a.clone();
        b.offset = 99;
        assert_eq!(
            record_digest(&a),
            record_digest(&b),
            "offset is not content"
        );
        b.headers = vec![("h".into(), Some(Vec::new()))];
        assert_ne!(record_digest(&a), record_digest(&b), "null vs empty header");
        let mut c = a.clone();
        c.timestamp = Some(1_001);
        assert_ne!(record_digest(&a), record_digest(&c));
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        let mut t = a.clone();
        t.offset = 0;
        assert_eq!(compare(&m, Some(&a), Some(&t)), None);
        let d = compare(&m, Some(&a), Some(&c)).unwrap();
        assert_eq!(d.what, "timestamp differ");
        assert!(compare(&m, Some(&a), None).is_some());
    }
}
