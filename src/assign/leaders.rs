//! Preferred-leader balancing (pure): choose each partition's first replica so that every broker
//! leads within one of its fair share, keeping current leaders where possible. Reordering moves no
//! data.

use std::collections::VecDeque;

/// Reorder `reps` (broker indices, in place) for the partitions in scope so leaders are balanced.
/// `orig_leader[p]` is the partition's leader before the plan.
///
/// One piece on purpose: keeping current leaders, direct takes and augmenting chains work on one
/// set of leader counts and per-partition choices, in that order.
pub fn balance(
    reps: &mut [Vec<u32>],
    orig_leader: &[u32],
    in_scope: &[bool],
    nb: usize,
    removed: &[bool],
) {
    let parts: Vec<usize> = (0..reps.len()).filter(|&p| in_scope[p]).collect();
    if parts.is_empty() {
        return;
    }
    let live = removed.iter().filter(|&&r| !r).count().max(1);
    let floor = (parts.len() / live) as i64;
    let ceil = floor + i64::from(!parts.len().is_multiple_of(live));
    let mut count = vec![0i64; nb];
    let mut leader = vec![u32::MAX; reps.len()];
    // 1. Keep every current leader that stays a replica.
    for &p in &parts {
        let o = orig_leader[p];
        if reps[p].contains(&o) {
            leader[p] = o;
            count[o as usize] += 1;
        }
    }
    // 2. Partitions whose leader moved away: the replica leading the fewest.
    for &p in &parts {
        if leader[p] == u32::MAX {
            let b = *reps[p]
                .iter()
                .min_by_key(|&&b| (count[b as usize], b))
                .expect("replicas");
            leader[p] = b;
            count[b as usize] += 1;
        }
    }
    // Partitions each broker is a replica of.
    let mut member: Vec<Vec<u32>> = vec![Vec::new(); nb];
    for &p in &parts {
        for &b in &reps[p] {
            member[b as usize].push(p as u32);
        }
    }
    // 3. Brokers below floor take leadership directly from co-replicas with the most to spare:
    //    first from those above ceil, then from those above floor (one change per step).
    let mut needy: Vec<usize> = (0..nb)
        .filter(|&b| !removed[b] && count[b] < floor)
        .collect();
    needy.sort_by_key(|&b| (count[b], b));
    for spare in [ceil, floor] {
        for &y in &needy {
            for &p in &member[y] {
                if count[y] >= floor {
                    break;
                }
                let x = leader[p as usize] as usize;
                if x != y && count[x] > spare {
                    leader[p as usize] = y as u32;
                    count[x] -= 1;
                    count[y] += 1;
                }
            }
        }
    }
    // 4. Brokers above ceil hand leadership directly to co-replicas below ceil, neediest first.
    for x in 0..nb {
        if count[x] <= ceil {
            continue;
        }
        for &p in &member[x] {
            if count[x] <= ceil {
                break;
            }
            if leader[p as usize] != x as u32 {
                continue;
            }
            if let Some(&y) = reps[p as usize]
                .iter()
                .filter(|&&y| count[y as usize] < ceil)
                .min_by_key(|&&y| (count[y as usize], y))
            {
                leader[p as usize] = y;
                count[x] -= 1;
                count[y as usize] += 1;
            }
        }
    }
    // 2. Shift leadership along augmenting paths until no broker is above ceil or below floor
    //    where a path exists.
    for _round in 0..2 {
        let mut changed = false;
        for b in 0..nb {
            while count[b] > ceil {
                if !augment(b, ceil, reps, &member, &mut leader, &mut count, nb) {
                    break;
                }
                changed = true;
            }
        }
        for b in 0..nb {
            if removed[b] {
                continue;
            }
            while count[b] < floor {
                // Reverse search: pull leadership towards b from a broker above floor.
                if !pull(b, floor, &member, &mut leader, &mut count, nb) {
                    break;
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for &p in &parts {
        let pos = reps[p]
            .iter()
            .position(|&b| b == leader[p])
            .expect("leader is a replica");
        if pos != 0 {
            // Bring the leader to the front, keep the followers' order.
            let l = reps[p].remove(pos);
            reps[p].insert(0, l);
        }
    }
}

/// BFS from `start` over "b leads p, p has replica y" edges to a broker below `ceil`;
/// shifts one leadership along the path.
fn augment(
    start: usize,
    ceil: i64,
    reps: &[Vec<u32>],
    member: &[Vec<u32>],
    leader: &mut [u32],
    count: &mut [i64],
    nb: usize,
) -> bool {
    let mut prev: Vec<Option<(usize, u32)>> = vec![None; nb]; // (from broker, via partition)
    let mut seen = vec![false; nb];
    seen[start] = true;
    let mut queue = VecDeque::from([start]);
    while let Some(x) = queue.pop_front() {
        for &p in &member[x] {
            if leader[p as usize] != x as u32 {
                continue;
            }
            for &y in &reps[p as usize] {
                let y = y as usize;
                if seen[y] {
                    continue;
                }
                seen[y] = true;
                prev[y] = Some((x, p));
                if count[y] < ceil {
                    let mut cur = y;
                    while let Some((from, via)) = prev[cur] {
                        leader[via as usize] = cur as u32;
                        cur = from;
                    }
                    count[start] -= 1;
                    count[y] += 1;
                    return true;
                }
                queue.push_back(y);
            }
        }
    }
    false
}

/// BFS backwards from `target` (below floor): find a broker above floor that can hand a
/// leadership down a chain ending at `target`.
fn pull(
    target: usize,
    floor: i64,
    member: &[Vec<u32>],
    leader: &mut [u32],
    count: &mut [i64],
    nb: usize,
) -> bool {
    // Edge y <- x when x leads some p that y is a replica of: x can give p to y.
    let mut next: Vec<Option<(usize, u32)>> = vec![None; nb]; // x -> (y it gives to, via p)
    let mut seen = vec![false; nb];
    seen[target] = true;
    let mut queue = VecDeque::from([target]);
    while let Some(y) = queue.pop_front() {
        for &p in &member[y] {
            let x = leader[p as usize] as usize;
            if seen[x] {
                continue;
            }
            seen[x] = true;
            next[x] = Some((y, p));
            if count[x] > floor {
                let mut cur = x;
                while let Some((to, via)) = next[cur] {
                    leader[via as usize] = to as u32;
                    if to == target {
                        break;
                    }
                    cur = to;
                }
                count[x] -= 1;
                count[target] += 1;
                return true;
            }
            queue.push_back(x);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_skewed_leaders_by_reordering() {
        // 6 partitions on brokers 0,1,2, all led by 0.
        let mut reps: Vec<Vec<u32>> = (0..6).map(|_| vec![0, 1, 2]).collect();
        let orig: Vec<u32> = vec![0; 6];
        balance(&mut reps, &orig, &[true; 6], 3, &[false; 3]);
        let mut c = [0; 3];
        for r in &reps {
            c[r[0] as usize] += 1;
            let mut s = r.clone();
            s.sort();
            assert_eq!(s, vec![0, 1, 2], "same replicas");
        }
        assert_eq!(c, [2, 2, 2]);
    }

    #[test]
    fn keeps_balanced_leaders_unchanged() {
        let mut reps: Vec<Vec<u32>> = vec![vec![0, 1], vec![1, 0]];
        let before = reps.clone();
        balance(&mut reps, &[0, 1], &[true, true], 2, &[false, false]);
        assert_eq!(reps, before);
    }

    #[test]
    fn chains_through_brokers() {
        // p0: {0,1}, p1: {1,2}; both led by 0 and 1 initially -> broker 2 leads nothing; a
        // balanced result gives each partition a distinct leader.
        let mut reps: Vec<Vec<u32>> = vec![vec![0, 1], vec![0, 1], vec![1, 2]];
        balance(&mut reps, &[0, 0, 1], &[true; 3], 3, &[false; 3]);
        let mut leaders: Vec<u32> = reps.iter().map(|r| r[0]).collect();
        leaders.sort();
        assert_eq!(leaders, vec![0, 1, 2]);
    }
}
