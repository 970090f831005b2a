//! The aggregator's store and the summary's read: one reader's lease,
//! journals kept once, a day's counters written once per round, tops and
//! folds on the generation they read, parked commits replayed once, and a
//! range of an org's days. (Counters are compared without zeros: DynamoDB
//! keeps a counter that went back to 0, the memory store drops it, and
//! every reader takes the two alike.)

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime, macros::date};

use super::{NOW, at};
use crate::{
    clock::ManualClock,
    domain::{
        OrgId,
        analytics::{
            Counters, DayAggregate, DayCounters, DayRange, DayTops, Journal, Sequence, TopChanges,
            TopK, TopKind, aggregate::counter,
        },
    },
    store::{AggregatorStore, AnalyticsStore, DayWrite, EndFold, Lease, ParkedDay},
};

const DAY: Date = date!(2026 - 11 - 22);

fn counters(messages: i64, chats: i64) -> Counters {
    Counters::from([
        (counter::MESSAGES.to_owned(), messages),
        (counter::CHATS.to_owned(), chats),
    ])
}

/// A change to the tops: `n` more messages from `user`.
fn by(user: &str, n: i64) -> TopChanges {
    TopChanges {
        users: BTreeMap::from([(user.to_owned(), n)]),
        tags: BTreeMap::new(),
    }
}

/// What a day's write left: the counters (without zeros), the pending
/// changes, the generation and the round.
fn written(write: DayWrite) -> (Counters, Vec<TopChanges>, u64, Option<u64>) {
    match write {
        DayWrite::Done(day) => kept(day),
        DayWrite::Refused(day) => panic!("refused, the day holds {day:?}"),
    }
}

fn kept(day: DayCounters) -> (Counters, Vec<TopChanges>, u64, Option<u64>) {
    let mut counters = day.counters;
    counters.retain(|_, count| *count != 0);
    (counters, day.pending, day.generation, day.round)
}

fn refused(write: DayWrite) -> bool {
    matches!(write, DayWrite::Refused(_))
}

async fn stored(store: &impl AggregatorStore, org: OrgId, day: Date) -> DayCounters {
    store.days(&[(org, day)]).await.unwrap()[&(org, day)]
        .counters
        .clone()
}

fn lease(owner: &str, run: u64, expires: OffsetDateTime) -> Lease {
    Lease {
        owner: owner.to_owned(),
        run,
        expires_at: expires,
        ends_at: expires + time::Duration::seconds(30),
    }
}

/// One reader holds the lease: it is taken only from what was read (none,
/// or the holder and its expiry as read), renewed and released only by its
/// holder; a released lease has lapsed, for the next reader to take.
pub async fn one_reader_holds_the_aggregator_lease(store: &impl AggregatorStore, _: &ManualClock) {
    assert_eq!(store.lease().await.unwrap(), None);
    let a = lease("a", 1, at(60));
    assert!(store.take_lease(None, &a).await.unwrap());
    assert!(
        !store
            .take_lease(None, &lease("b", 1, at(60)))
            .await
            .unwrap()
    );
    assert_eq!(store.lease().await.unwrap(), Some(a.clone()));

    let b = lease("b", 2, at(120));
    assert!(store.take_lease(Some(&a), &b).await.unwrap());
    assert!(
        !store
            .take_lease(Some(&a), &lease("c", 3, at(180)))
            .await
            .unwrap()
    );
    assert!(!store.renew_lease(&lease("a", 1, at(300))).await.unwrap());
    let renewed = lease("b", 2, at(180));
    assert!(store.renew_lease(&renewed).await.unwrap());
    assert_eq!(store.lease().await.unwrap(), Some(renewed.clone()));
    assert!(
        !store
            .take_lease(Some(&b), &lease("c", 3, at(240)))
            .await
            .unwrap()
    );

    store.release_lease(&a).await.unwrap();
    assert_eq!(store.lease().await.unwrap(), Some(renewed.clone()));
    store.release_lease(&renewed).await.unwrap();
    let released = store.lease().await.unwrap().unwrap();
    assert_eq!(released.owner, "b");
    assert!(released.expires_at < NOW, "lapsed");
    let c = lease("c", 3, at(240));
    assert!(store.take_lease(Some(&released), &c).await.unwrap());
    assert_eq!(store.lease().await.unwrap(), Some(c));
}

/// A round's journal is kept as first saved; journals are read newest
/// first, at most `limit`, before a round if asked.
pub async fn journals_are_kept_once_and_read_newest_first(
    store: &impl AggregatorStore,
    _: &ManualClock,
) {
    let journal = |round: u64, shard: &str| Journal {
        round,
        read: BTreeMap::from([(shard.to_owned(), Sequence::new(format!("{round}00")))]),
        ..Journal::default()
    };
    for round in 1..=4 {
        store
            .save_journal(&journal(round, "shard-1"))
            .await
            .unwrap();
    }
    store.save_journal(&journal(2, "shard-2")).await.unwrap();
    let rounds = |journals: Vec<Journal>| journals.iter().map(|j| j.round).collect::<Vec<_>>();
    assert_eq!(rounds(store.journals(2, None).await.unwrap()), [4, 3]);
    let before = store.journals(10, Some(3)).await.unwrap();
    assert_eq!(before, [journal(2, "shard-1"), journal(1, "shard-1")]);
}

/// A day's counters take each round once: a round at or before the one
/// the day holds is refused, with the day as stored; later rounds add
/// their counters and append their top changes.
pub async fn a_day_takes_each_round_once(store: &impl AggregatorStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let first = store
        .add_to_day(acme, DAY, 5, &counters(3, 1), Some(&by("ann", 3)))
        .await
        .unwrap();
    assert_eq!(
        written(first),
        (counters(3, 1), vec![by("ann", 3)], 0, Some(5))
    );
    for round in [5, 4] {
        let again = store
            .add_to_day(acme, DAY, round, &counters(3, 1), None)
            .await
            .unwrap();
        let DayWrite::Refused(Some(day)) = again else {
            panic!("round {round} taken twice: {again:?}");
        };
        assert_eq!(kept(day), (counters(3, 1), vec![by("ann", 3)], 0, Some(5)));
    }
    let empty = TopChanges::default();
    let next = store
        .add_to_day(acme, DAY, 6, &counters(2, 0), Some(&empty))
        .await
        .unwrap();
    assert_eq!(
        written(next),
        (counters(5, 1), vec![by("ann", 3)], 0, Some(6))
    );
    assert_eq!(
        kept(stored(store, acme, DAY).await),
        (counters(5, 1), vec![by("ann", 3)], 0, Some(6))
    );
    assert_eq!(stored(store, globex, DAY).await, DayCounters::default());
}

/// The tops are written only on the generation they were read at (0:
/// none stored yet), and read back as written.
pub async fn tops_are_written_on_the_generation_read(
    store: &impl AggregatorStore,
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let (mut users, mut tags) = (TopK::default(), TopK::default());
    by("ann", 3).apply_to(&mut users, &mut tags);
    let tops = DayTops {
        users,
        tags,
        generation: 1,
        folded: 1,
        round: Some(5),
    };
    assert!(store.write_tops(acme, DAY, &tops, 0).await.unwrap());
    assert!(!store.write_tops(acme, DAY, &tops, 0).await.unwrap());
    let next = DayTops {
        generation: 2,
        round: Some(6),
        ..tops.clone()
    };
    assert!(!store.write_tops(acme, DAY, &next, 2).await.unwrap());
    let days = store.days(&[(acme, DAY)]).await.unwrap();
    assert_eq!(days[&(acme, DAY)].tops, tops);
    assert!(store.write_tops(acme, DAY, &next, 1).await.unwrap());
    let days = store.days(&[(acme, DAY)]).await.unwrap();
    assert_eq!(days[&(acme, DAY)].tops, next);
}

/// A fold's second write ends it only on the counters it read (their
/// generation and pending length, and a round not taken yet): it drops
/// the folded entries from the front, adds its counters, moves the
/// generation on.
pub async fn a_fold_ends_on_the_counters_it_read(store: &impl AggregatorStore, _: &ManualClock) {
    let acme = OrgId::new();
    for (round, user) in [(1, "ann"), (2, "bob")] {
        let changes = by(user, 1);
        store
            .add_to_day(acme, DAY, round, &counters(1, 0), Some(&changes))
            .await
            .unwrap();
    }
    let end = EndFold {
        generation: 0,
        pending_len: 2,
        folded: 1,
        add: counters(4, 1),
        round: Some(3),
    };
    let stale = EndFold {
        pending_len: 1,
        ..end.clone()
    };
    assert!(refused(store.end_fold(acme, DAY, &stale).await.unwrap()));
    let ended = store.end_fold(acme, DAY, &end).await.unwrap();
    assert_eq!(
        written(ended),
        (counters(6, 1), vec![by("bob", 1)], 1, Some(3))
    );
    assert!(refused(store.end_fold(acme, DAY, &end).await.unwrap()));
    let round_taken = EndFold {
        generation: 1,
        pending_len: 1,
        folded: 1,
        add: Counters::new(),
        round: Some(3),
    };
    assert!(refused(
        store.end_fold(acme, DAY, &round_taken).await.unwrap()
    ));
    let completing = EndFold {
        round: None,
        ..round_taken
    };
    let ended = store.end_fold(acme, DAY, &completing).await.unwrap();
    assert_eq!(written(ended), (counters(6, 1), vec![], 2, Some(3)));
}

/// A parked commit is kept as first parked, listed, and replayed into its
/// day once: the replay adds its counters and changes, and removes it.
pub async fn a_parked_commit_is_replayed_once(store: &impl AggregatorStore, _: &ManualClock) {
    let acme = OrgId::new();
    store
        .add_to_day(acme, DAY, 1, &counters(1, 1), None)
        .await
        .unwrap();
    let parked = ParkedDay {
        org: acme,
        day: DAY,
        round: 2,
        counters: counters(2, 0),
        changes: by("ann", 2),
        reason: "throttled".to_owned(),
        parked_at: at(10),
    };
    store.park(&parked).await.unwrap();
    let again = ParkedDay {
        reason: "throttled again".to_owned(),
        parked_at: at(20),
        ..parked.clone()
    };
    store.park(&again).await.unwrap();
    assert_eq!(store.parked(10).await.unwrap(), vec![parked.clone()]);

    assert!(store.replay(&parked).await.unwrap());
    assert!(!store.replay(&parked).await.unwrap());
    assert_eq!(store.parked(10).await.unwrap(), []);
    assert_eq!(
        kept(stored(store, acme, DAY).await),
        (counters(3, 1), vec![by("ann", 2)], 0, Some(1))
    );
}

/// Parked commits are listed oldest first (to the second, then by org,
/// day and round), at most `limit`.
pub async fn parked_commits_are_listed_oldest_first(store: &impl AggregatorStore, _: &ManualClock) {
    let (one, two) = (OrgId::at(at(1)), OrgId::at(at(2)));
    let park = |org, round, parked_at| ParkedDay {
        org,
        day: DAY,
        round,
        counters: counters(1, 0),
        changes: TopChanges::default(),
        reason: "failed".to_owned(),
        parked_at,
    };
    let parked = [
        park(two, 1, at(10)),
        park(one, 2, at(20) + time::Duration::milliseconds(900)),
        park(two, 3, at(20) + time::Duration::milliseconds(100)),
        park(one, 4, at(30)),
    ];
    for day in parked.iter().rev() {
        store.park(day).await.unwrap();
    }
    assert_eq!(store.parked(3).await.unwrap(), parked[..3]);
}

/// The summary's read: an org's days within the range, each as its
/// counters and its two tops (pending changes included); other days and
/// other orgs are not read.
pub async fn the_summary_reads_the_orgs_days_in_range(
    store: &(impl AggregatorStore + AnalyticsStore),
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let days = [date!(2026 - 11 - 20), DAY, date!(2026 - 11 - 23)];
    for (n, day) in days.into_iter().enumerate() {
        let n = n as i64 + 1;
        let changes = by("ann", n);
        store
            .add_to_day(acme, day, 1, &counters(n, 1), Some(&changes))
            .await
            .unwrap();
    }
    store
        .add_to_day(globex, DAY, 1, &counters(9, 9), None)
        .await
        .unwrap();

    let range = DayRange {
        from: date!(2026 - 11 - 21),
        to: DAY,
    };
    let (mut users, mut tags) = (TopK::default(), TopK::default());
    by("ann", 2).apply_to(&mut users, &mut tags);
    let mut read = store.aggregates(acme, range).await.unwrap();
    for (_, aggregate) in &mut read {
        if let DayAggregate::Counters(counters) = aggregate {
            counters.retain(|_, count| *count != 0);
        }
    }
    assert_eq!(
        read,
        [
            (DAY, DayAggregate::Counters(counters(2, 1))),
            (DAY, DayAggregate::Top(TopKind::Users, users)),
            (DAY, DayAggregate::Top(TopKind::Tags, tags)),
        ]
    );
}
