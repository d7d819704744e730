//! Planner tests on hand-built manifests.

use firn_manifest::{ChunkId, ChunkMeta, Manifest, SortedRun};

use crate::simulate::check_order;
use crate::{plan, plan_alongside, plan_full, CompactionConfig, CompactionPlan, Policy};

/// Size unit of the hand-built manifests: one flushed chunk.
const U: u64 = 1000;

/// Builds a manifest from sizes (in units of [`U`]): level-0 chunks newest first, runs newest
/// first, each run a list of chunk sizes. Sequence numbers grow from the oldest source to the
/// newest, so the layout is read-ordered; run ids are 1.. from the oldest run, chunk ids are
/// unique.
fn manifest(l0: &[u64], runs: &[&[u64]]) -> Manifest {
    let mut m = Manifest::new([7; 16]);
    let mut seq = 0;
    let mut next_chunk = 1;
    let mut chunk = |size: u64, seq: &mut u64, key: u64| {
        *seq += 10;
        let c = ChunkMeta {
            id: ChunkId {
                epoch: 1,
                id: next_chunk,
            },
            size: size * U,
            meta_offset: 0,
            meta_len: 0,
            entries: 10,
            tombstones: 0,
            min_key: (2 * key).to_be_bytes().to_vec(),
            max_key: (2 * key + 1).to_be_bytes().to_vec(),
            min_seq: *seq - 9,
            max_seq: *seq,
        };
        next_chunk += 1;
        c
    };
    for (i, sizes) in runs.iter().enumerate().rev() {
        let chunks = sizes
            .iter()
            .enumerate()
            .map(|(k, &s)| chunk(s, &mut seq, k as u64))
            .collect();
        m.runs.insert(
            0,
            SortedRun {
                id: (runs.len() - i) as u64,
                chunks,
            },
        );
    }
    for &size in l0.iter().rev() {
        let c = chunk(size, &mut seq, 0);
        m.l0.insert(0, c);
    }
    m.next_run_id = runs.len() as u64 + 1;
    m.next_chunk_id = next_chunk;
    m
}

/// Output chunks for `p` on `m`: one chunk of the inputs' total size and sequence range.
fn outputs(m: &Manifest, p: &CompactionPlan, first_id: u64) -> Vec<ChunkMeta> {
    let inputs: Vec<&ChunkMeta> = p
        .input_chunk_ids()
        .map(|id| m.find_chunk(id).expect("input in manifest"))
        .collect();
    vec![ChunkMeta {
        id: ChunkId {
            epoch: 2,
            id: first_id,
        },
        size: p.input_bytes,
        meta_offset: 0,
        meta_len: 0,
        entries: inputs.iter().map(|c| c.entries).sum(),
        tombstones: 0,
        min_key: vec![0],
        max_key: vec![255],
        min_seq: inputs.iter().map(|c| c.min_seq).min().unwrap_or(0),
        max_seq: inputs.iter().map(|c| c.max_seq).max().unwrap_or(0),
    }]
}

/// Applies `p` to `m` with synthetic outputs and checks the read order afterwards.
fn apply(m: &mut Manifest, p: &CompactionPlan) {
    let outs = outputs(m, p, m.next_chunk_id);
    p.to_edit(outs).apply(m).expect("edit applies");
    check_order(m).expect("read order kept");
}

fn run_ids(m: &Manifest) -> Vec<u64> {
    m.runs.iter().map(|r| r.id).collect()
}

fn l0_ids(m: &Manifest) -> Vec<u64> {
    m.l0.iter().map(|c| c.id.id).collect()
}

fn ids(chunks: &[ChunkId]) -> Vec<u64> {
    chunks.iter().map(|c| c.id).collect()
}

/// The sizes of the sources in read order, in units.
fn shape(m: &Manifest) -> Vec<u64> {
    m.l0.iter()
        .map(|c| c.size / U)
        .chain(
            m.runs
                .iter()
                .map(|r| r.chunks.iter().map(|c| c.size).sum::<u64>() / U),
        )
        .collect()
}

fn config(policy: Policy) -> CompactionConfig {
    CompactionConfig {
        level_base_bytes: 4 * U,
        ..CompactionConfig::with_policy(policy)
    }
}

const POLICIES: [Policy; 2] = [Policy::Tiered, Policy::Leveled];

#[test]
fn nothing_to_do_on_an_empty_manifest_or_below_the_trigger() {
    for policy in POLICIES {
        let c = config(policy);
        assert_eq!(plan(&manifest(&[], &[]), &c), None);
        assert_eq!(plan_full(&manifest(&[], &[]), &c), None);
        assert_eq!(plan(&manifest(&[1], &[]), &c), None);
        assert_eq!(plan(&manifest(&[1, 1, 1], &[]), &c), None);
        // Distinct tiers / levels, below every bound.
        assert_eq!(plan(&manifest(&[1, 1], &[&[4], &[16], &[64]]), &c), None);
    }
}

#[test]
fn l0_trigger_merges_all_level0_chunks_into_a_new_run() {
    for policy in POLICIES {
        let c = config(policy);
        let m = manifest(&[1, 1, 1, 1], &[]);
        let p = plan(&m, &c).expect("trigger reached");
        assert_eq!(ids(&p.inputs_l0), l0_ids(&m), "{policy:?}");
        assert!(p.input_runs.is_empty());
        assert!(p.bottommost, "nothing below level 0");
        assert_eq!(p.output_run_id, m.next_run_id);
        assert_eq!(p.input_bytes, 4 * U);
        assert_eq!(p.target_chunk_size, c.target_chunk_size);
        assert!(p.reason.contains("level-0"), "{}", p.reason);

        let mut after = m.clone();
        apply(&mut after, &p);
        assert!(after.l0.is_empty());
        assert_eq!(run_ids(&after), vec![p.output_run_id]);
        assert_eq!(after.next_run_id, p.output_run_id + 1);
    }
}

#[test]
fn l0_goes_in_front_of_bigger_runs_and_is_not_bottommost() {
    let c = config(Policy::Tiered);
    let m = manifest(&[1, 1, 1, 1, 1], &[&[16, 16], &[64]]);
    let p = plan(&m, &c).expect("trigger reached");
    assert_eq!(p.inputs_l0.len(), 5);
    assert!(p.input_runs.is_empty());
    assert!(!p.bottommost);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(run_ids(&after), vec![3, 2, 1]);
    assert_eq!(shape(&after), vec![5, 32, 64]);
}

#[test]
fn tiered_l0_takes_along_the_runs_it_completes_a_tier_with() {
    let c = config(Policy::Tiered);
    // Level 0 (4) and three runs of 4 make a tier: one merge of 16, then 16 completes the
    // next tier with the three 16s, but not the 256 behind them.
    let m = manifest(
        &[1, 1, 1, 1],
        &[&[4], &[4], &[4], &[16], &[16], &[16], &[256]],
    );
    let p = plan(&m, &c).expect("trigger reached");
    assert_eq!(p.inputs_l0.len(), 4);
    assert_eq!(
        p.input_runs,
        vec![7, 6, 5, 4, 3, 2],
        "the newest runs, in order"
    );
    assert!(!p.bottommost);
    assert!(p.reason.contains("6 runs"), "{}", p.reason);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(shape(&after), vec![64, 256]);
    assert_eq!(run_ids(&after), vec![8, 1]);
    assert_eq!(plan(&after, &c), None);
}

#[test]
fn tiered_merges_adjacent_runs_of_similar_size() {
    let c = config(Policy::Tiered);
    // Four runs of about 16 (within a factor 2 of each other) behind a 4 and in front of a 256.
    let m = manifest(&[1], &[&[4], &[12, 4], &[20], &[16], &[10, 6], &[256]]);
    let p = plan(&m, &c).expect("a full tier");
    assert!(p.inputs_l0.is_empty());
    assert_eq!(p.input_runs, vec![5, 4, 3, 2]);
    assert_eq!(p.input_run_chunks.len(), 6);
    assert_eq!(p.input_bytes, 68 * U);
    assert!(!p.bottommost);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(shape(&after), vec![1, 4, 68, 256]);
    assert_eq!(run_ids(&after), vec![6, 7, 1]);
    assert_eq!(plan(&after, &c), None);

    // The same tier at the bottom is bottommost.
    let m = manifest(&[], &[&[4], &[16], &[16], &[16], &[16]]);
    let p = plan(&m, &c).expect("a full tier");
    assert_eq!(p.input_runs, vec![4, 3, 2, 1]);
    assert!(p.bottommost);

    // Three similar runs are not a tier yet.
    assert_eq!(plan(&manifest(&[], &[&[16], &[16], &[16]]), &c), None);
}

#[test]
fn leveled_merges_level0_into_level1_and_levels_downwards() {
    let c = config(Policy::Leveled);
    // Level 1 (capacity 4) has room: level 0 merges into it.
    let m = manifest(&[1, 1, 1, 1], &[&[3], &[64]]);
    let p = plan(&m, &c).expect("trigger reached");
    assert_eq!(p.inputs_l0.len(), 4);
    assert_eq!(p.input_runs, vec![2]);
    assert!(!p.bottommost);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(shape(&after), vec![7, 64]);

    // Level 1 is full: level 0 starts a new one.
    let m = manifest(&[1, 1, 1, 1], &[&[12], &[64]]);
    let p = plan(&m, &c).expect("trigger reached");
    assert!(p.input_runs.is_empty());

    // A run that grew into the level of the run behind it merges into it, and the result
    // sinks further while it reaches the next level.
    let m = manifest(&[], &[&[20], &[30], &[60]]);
    let p = plan(&m, &c).expect("level collision");
    assert_eq!(p.input_runs, vec![3, 2, 1]);
    assert!(p.bottommost);
    let m = manifest(&[], &[&[20], &[30], &[600]]);
    let p = plan(&m, &c).expect("level collision");
    assert_eq!(p.input_runs, vec![3, 2]);
    assert!(!p.bottommost);
}

#[test]
fn too_many_runs_merge_the_cheapest_adjacent_sources() {
    for policy in POLICIES {
        let c = CompactionConfig {
            max_runs: 4,
            ..config(policy)
        };
        // Six sources, all in different tiers/levels: two must go.
        let m = manifest(&[1, 1], &[&[4], &[16], &[64], &[256]]);
        let p = plan(&m, &c).unwrap_or_else(|| panic!("{policy:?}: over max_runs"));
        assert!(p.reason.contains("max_runs"), "{}", p.reason);
        assert!(p.source_count() >= 2);
        let mut after = m.clone();
        let mut steps = 0;
        let mut step = Some(p);
        while let Some(p) = step {
            apply(&mut after, &p);
            steps += 1;
            assert!(steps <= 6, "{policy:?} does not settle");
            step = plan(&after, &c);
        }
        assert!(
            after.l0.len() + after.runs.len() <= 4,
            "{:?}",
            shape(&after)
        );
    }
}

#[test]
fn an_oldest_level0_suffix_goes_in_front_of_all_runs() {
    // Below the trigger, but over max_runs: the two oldest level-0 chunks are the cheapest.
    let c = CompactionConfig {
        max_runs: 4,
        ..config(Policy::Leveled)
    };
    let m = manifest(&[5, 1, 1], &[&[40], &[400]]);
    let p = plan(&m, &c).expect("over max_runs");
    assert_eq!(
        ids(&p.inputs_l0),
        l0_ids(&m)[1..].to_vec(),
        "the oldest two"
    );
    assert!(p.input_runs.is_empty());
    assert!(!p.bottommost);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(l0_ids(&after), l0_ids(&m)[..1].to_vec(), "the newest stays");
    assert_eq!(run_ids(&after), vec![3, 2, 1]);
    assert_eq!(shape(&after), vec![5, 2, 40, 400]);
}

#[test]
fn auto_compaction_off_plans_nothing_but_full_compaction_works() {
    let c = CompactionConfig {
        auto_compaction: false,
        ..config(Policy::Tiered)
    };
    let m = manifest(&[1; 20], &[&[4], &[4], &[4], &[4]]);
    assert_eq!(plan(&m, &c), None);
    assert!(plan_full(&m, &c).is_some());
}

#[test]
fn full_compaction_takes_everything_into_one_bottommost_run() {
    let c = config(Policy::Tiered);
    let m = manifest(&[1, 1], &[&[4, 4], &[16], &[256]]);
    let p = plan_full(&m, &c).expect("several sources");
    assert_eq!(ids(&p.inputs_l0), l0_ids(&m));
    assert_eq!(p.input_runs, vec![3, 2, 1]);
    assert!(p.bottommost);
    assert_eq!(p.input_bytes, 282 * U);
    let mut after = m.clone();
    apply(&mut after, &p);
    assert_eq!(shape(&after), vec![282]);
    assert!(after.l0.is_empty());

    // Already one clean run: nothing to do; with tombstones: rewrite it to drop them.
    assert_eq!(plan_full(&after, &c), None);
    after.runs[0].chunks[0].tombstones = 3;
    let p = plan_full(&after, &c).expect("tombstones to drop");
    assert_eq!(p.input_tombstones, 3);
    assert!(p.bottommost);

    // A lone level-0 chunk becomes a run.
    let p = plan_full(&manifest(&[1], &[]), &c).expect("level 0 to a run");
    assert_eq!(p.inputs_l0.len(), 1);
}

#[test]
fn an_empty_output_removes_the_inputs_and_adds_no_run() {
    let m = manifest(&[1, 1], &[&[4]]);
    let p = plan_full(&m, &config(Policy::Tiered)).expect("three sources");
    let mut after = m.clone();
    p.to_edit(Vec::new()).apply(&mut after).expect("applies");
    assert!(after.l0.is_empty() && after.runs.is_empty());
}

#[test]
fn concurrent_plans_are_disjoint_and_publish_in_either_order() {
    let c = config(Policy::Tiered);
    let m = manifest(&[1, 1, 1, 1], &[&[64], &[16], &[16], &[16], &[16], &[1024]]);
    let first = plan(&m, &c).expect("level 0");
    assert_eq!(first.inputs_l0.len(), 4);
    assert!(first.input_runs.is_empty());

    let second = plan_alongside(&m, &c, std::slice::from_ref(&first)).expect("the 16s");
    assert!(second.inputs_l0.is_empty(), "level 0 is taken");
    assert_eq!(second.input_runs, vec![5, 4, 3, 2]);
    assert_ne!(second.output_run_id, first.output_run_id);
    let both = [first.clone(), second.clone()];
    assert_eq!(plan_alongside(&m, &c, &both), None);

    for order in [[&first, &second], [&second, &first]] {
        let mut after = m.clone();
        for (next_id, p) in (1000..).zip(order) {
            let outs = outputs(&m, p, next_id);
            p.to_edit(outs).apply(&mut after).expect("applies");
            check_order(&after).expect("read order kept");
        }
        assert_eq!(shape(&after), vec![4, 64, 64, 1024]);
    }

    // A plan whose inputs are gone (published already) no longer blocks anything.
    let mut after = m.clone();
    apply(&mut after, &first);
    let third = plan_alongside(&after, &c, std::slice::from_ref(&first)).expect("the 16s");
    assert_eq!(third.input_runs, vec![5, 4, 3, 2]);
}

/// A small deterministic generator for randomized manifests.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Checks the shape rules of a plan against the manifest it was made from.
fn assert_contiguous(m: &Manifest, p: &CompactionPlan) {
    let n = p.inputs_l0.len();
    let l0 = l0_ids(m);
    assert_eq!(
        ids(&p.inputs_l0),
        l0[l0.len() - n..].to_vec(),
        "the oldest level-0 chunks"
    );
    let runs = run_ids(m);
    if let Some(first) = p.input_runs.first() {
        let start = runs.iter().position(|r| r == first).expect("run present");
        assert_eq!(
            p.input_runs,
            runs[start..start + p.input_runs.len()].to_vec()
        );
        if n > 0 {
            assert_eq!(n, l0.len(), "runs only with all of level 0");
            assert_eq!(start, 0, "and then the newest runs");
        }
        let end = start + p.input_runs.len();
        assert_eq!(p.bottommost, end == runs.len());
    } else {
        assert_eq!(p.bottommost, runs.is_empty());
    }
}

#[test]
fn randomized_manifests_keep_every_invariant() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..400 {
        let policy = POLICIES[case % 2];
        let c = CompactionConfig {
            l0_trigger: 2 + rng.below(4) as usize,
            size_ratio: 2 + rng.below(4),
            max_runs: 1 + rng.below(10) as usize,
            ..config(policy)
        };
        let l0: Vec<u64> = (0..rng.below(8)).map(|_| 1 + rng.below(3)).collect();
        let runs: Vec<Vec<u64>> = (0..rng.below(10))
            .map(|_| (0..1 + rng.below(3)).map(|_| 1 + rng.below(300)).collect())
            .collect();
        let run_refs: Vec<&[u64]> = runs.iter().map(Vec::as_slice).collect();
        let mut m = manifest(&l0, &run_refs);
        let mut steps = 0;
        while let Some(p) = plan(&m, &c) {
            assert_eq!(plan(&m, &c).as_ref(), Some(&p), "deterministic");
            assert_contiguous(&m, &p);
            assert!(p.source_count() >= 2, "a plan must gain something: {p:?}");
            let before = m.l0.len() + m.runs.len();
            apply(&mut m, &p);
            assert_eq!(m.l0.len() + m.runs.len(), before + 1 - p.source_count());
            steps += 1;
            assert!(steps <= 20, "case {case} does not settle: {:?}", shape(&m));
        }
        assert!(m.l0.len() + m.runs.len() <= c.max_runs, "case {case}");
        assert!(m.l0.len() < c.l0_trigger, "case {case}");
        if let Some(p) = plan_full(&m, &c) {
            assert_contiguous(&m, &p);
            assert!(p.bottommost);
            apply(&mut m, &p);
            assert!(m.l0.is_empty() && m.runs.len() == 1);
        }
    }
}
