//! The reader with the in-memory store and a synthetic stream: exact counts
//! over many shards with one commit per org per cadence, restarts and
//! crashes that read records again, splits, folds, and a poisoned org.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use time::{Date, OffsetDateTime, macros::datetime};

use super::{Reader, ReaderConfig, Start, replay_parked};
use crate::{
    clock::{Clock, ManualClock},
    domain::{
        ChatId, MessageId, MessageRole, OrgId,
        analytics::{
            ChatFacts, ChatState, DayRange, MessageFacts, Sequence, StreamChange, Summary, Tracked,
        },
    },
    store::{AggregatorStore, MemoryAggregates, MemoryStream, StreamRecord},
};

const START: OffsetDateTime = datetime!(2026-11-22 10:00:00 UTC);

fn day() -> Date {
    START.date()
}

/// Builds records and routes them to shards by a hash of the item's key.
struct World {
    clock: Arc<ManualClock>,
    store: Arc<MemoryAggregates>,
    stream: Arc<MemoryStream>,
    shards: Vec<String>,
    next: u64,
}

impl World {
    fn new(shards: usize) -> Self {
        let stream = Arc::new(MemoryStream::new());
        let shards: Vec<String> = (0..shards).map(|n| format!("shard-{n}")).collect();
        for shard in &shards {
            stream.open(shard, None);
        }
        Self {
            clock: ManualClock::shared(START),
            store: Arc::new(MemoryAggregates::new()),
            stream,
            shards,
            next: 0,
        }
    }

    fn push(&mut self, route: u64, change: impl FnOnce(Sequence) -> StreamChange) {
        self.next += 1;
        let sequence = Sequence::new(format!("{}", 1_000_000 + self.next));
        let shard = &self.shards[(route % self.shards.len() as u64) as usize];
        let record = StreamRecord {
            sequence: sequence.clone(),
            at: self.clock.now(),
            change: Ok(Some(change(sequence))),
        };
        self.stream.push(shard, record);
    }

    fn chat(&mut self, org: OrgId, user: &str, tags: &[&str]) -> ChatId {
        let id = ChatId::new();
        let chat = ChatFacts {
            org,
            id,
            day: day(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            user_id: Some(user.to_owned()),
            deleted: false,
        };
        self.store.set_chat(
            org,
            id,
            ChatState {
                user_id: chat.user_id.clone(),
                deleted: false,
            },
        );
        let route = u64::from_le_bytes(id.to_string().as_bytes()[..8].try_into().unwrap());
        self.push(route, |sequence| StreamChange {
            sequence,
            old: None,
            new: Some(Tracked::Chat(chat)),
        });
        id
    }

    /// A message; its route is the message's own key, as a chat's messages
    /// spread over every shard.
    fn message(&mut self, org: OrgId, chat: ChatId) {
        let id = MessageId::new();
        let route = self.next * 7919;
        self.push(route, |sequence| StreamChange {
            sequence,
            old: None,
            new: Some(Tracked::Message(MessageFacts {
                org,
                chat,
                id,
                role: MessageRole::User,
                tokens: Some(2),
                latency_ms: Some(100),
                day: day(),
            })),
        });
    }

    async fn reader(&self) -> Reader {
        match Reader::start(
            self.store.clone(),
            self.stream.clone(),
            self.clock.clone(),
            ReaderConfig::DEFAULT,
            START + time::Duration::hours(1),
        )
        .await
        .unwrap()
        {
            Start::Reading(reader) => *reader,
            Start::Held(lease) => panic!("the lease is held: {lease:?}"),
        }
    }

    fn summary(&self, org: OrgId) -> Summary {
        let range = DayRange {
            from: day(),
            to: day(),
        };
        Summary::build(org, range, self.store.aggregates(org))
    }

    fn tick(&self, seconds: u64) {
        self.clock
            .advance(time::Duration::try_from(Duration::from_secs(seconds)).unwrap());
    }
}

#[tokio::test]
async fn orgs_commit_once_per_cadence_whatever_the_shards_and_count_exactly() {
    let mut per_shard_count = Vec::new();
    for shards in [1, 4, 32] {
        let mut world = World::new(shards);
        let (quiet, busy) = (OrgId::new(), OrgId::new());
        let quiet_chat = world.chat(quiet, "ann", &["billing", "vip"]);
        let busy_chat = world.chat(busy, "bob", &["support"]);
        let mut reader = world.reader().await;
        let mut commits = BTreeMap::<&str, usize>::new();
        // Two minutes: the quiet org logs every 10 s, the busy one 10 a second.
        for second in 0..120 {
            if second % 10 == 0 {
                world.message(quiet, quiet_chat);
            }
            for _ in 0..10 {
                world.message(busy, busy_chat);
            }
            world.tick(1);
            if second % 3 == 2 {
                let report = reader.round().await.unwrap();
                *commits.entry("days").or_default() += report.commits.committed;
            }
        }
        reader.flush().await.unwrap();
        assert_eq!(world.summary(quiet).totals.messages, 12, "{shards} shards");
        assert_eq!(world.summary(busy).totals.messages, 1200);
        assert_eq!(world.summary(quiet).top_users[0].user_id, "ann");
        assert_eq!(world.summary(quiet).top_tags.len(), 2);
        per_shard_count.push(commits["days"]);
    }
    // The busy org about every 12 s (10 s and the next round), the quiet
    // one every 42 s: the same with 1, 4 or 32 shards.
    assert!(
        (11..=13).contains(&per_shard_count[0]),
        "{per_shard_count:?}"
    );
    assert!(
        per_shard_count.iter().all(|c| *c == per_shard_count[0]),
        "{per_shard_count:?}"
    );
}

#[tokio::test]
async fn a_crash_after_some_commits_is_read_again_without_counting_twice() {
    let mut world = World::new(4);
    let orgs: Vec<OrgId> = (0..6).map(|_| OrgId::new()).collect();
    let chats: Vec<ChatId> = orgs
        .iter()
        .map(|org| world.chat(*org, "ann", &["a"]))
        .collect();
    let mut reader = world.reader().await;
    for second in 0..100 {
        for (n, org) in orgs.iter().enumerate() {
            if second % (n + 1) == 0 {
                world.message(*org, chats[n]);
            }
        }
        world.tick(1);
        if second % 3 == 0 {
            reader.round().await.unwrap();
        }
    }
    // The run dies without a word (no last journal, the lease left to lapse).
    drop(reader);
    for n in 0..3 {
        world.message(orgs[n], chats[n]);
    }
    world.tick(61);
    let mut reader = world.reader().await;
    reader.flush().await.unwrap();
    for (n, org) in orgs.iter().enumerate() {
        let expected = 100_u64.div_ceil(n as u64 + 1) + u64::from(n < 3);
        assert_eq!(world.summary(*org).totals.messages, expected, "org {n}");
    }
    // And an orderly hand-over: a last journal, the lease released.
    world.message(orgs[0], chats[0]);
    reader.round().await.unwrap();
    reader.finish().await.unwrap();
    let mut reader = world.reader().await;
    reader.flush().await.unwrap();
    assert_eq!(world.summary(orgs[0]).totals.messages, 102);
}

#[tokio::test]
async fn only_one_reader_holds_the_lease() {
    let world = World::new(1);
    let _first = world.reader().await;
    let second = Reader::start(
        world.store.clone(),
        world.stream.clone(),
        world.clock.clone(),
        ReaderConfig::DEFAULT,
        START + time::Duration::hours(1),
    )
    .await
    .unwrap();
    assert!(matches!(second, Start::Held(_)));
}

#[tokio::test]
async fn a_split_shard_is_read_to_its_end_before_its_children() {
    let mut world = World::new(1);
    let org = OrgId::new();
    let chat = world.chat(org, "ann", &["a"]);
    for _ in 0..5 {
        world.message(org, chat);
    }
    world.stream.close("shard-0");
    world.stream.open("child-a", Some("shard-0"));
    world.stream.open("child-b", Some("shard-0"));
    world.shards = vec!["child-a".into(), "child-b".into()];
    for _ in 0..6 {
        world.message(org, chat);
    }
    let mut reader = world.reader().await;
    reader.flush().await.unwrap();
    reader.flush().await.unwrap();
    assert_eq!(world.summary(org).totals.messages, 11);
    assert_eq!(world.summary(org).totals.chats, 1);
}

#[tokio::test]
async fn top_changes_fold_into_the_tops_and_stay_exact() {
    let mut world = World::new(2);
    let org = OrgId::new();
    let chats: Vec<ChatId> = (0..20)
        .map(|n| world.chat(org, &format!("visitor-{n:02}-with-a-longer-id"), &["t"]))
        .collect();
    let mut reader = world.reader().await;
    let mut folds = 0;
    for round in 0..30 {
        world.message(org, chats[round % chats.len()]);
        world.message(org, chats[(round * 7) % chats.len()]);
        folds += reader.flush().await.unwrap().commits.folds;
    }
    assert!(folds >= 2, "the pending list was folded ({folds} folds)");
    let summary = world.summary(org);
    assert_eq!(summary.totals.messages, 60);
    assert_eq!(summary.top_users_error_bound, 0);
    let listed: u64 = summary.top_users.iter().map(|u| u.messages).sum();
    let first = &summary.top_users[0];
    assert!(first.messages >= 3, "{first:?}");
    assert!(listed <= 60);
}

/// A write of the tops that took effect but answered with a timeout (or
/// whose SDK retry was refused by the condition the first try met) is the
/// commit's own: retried, it ends that fold instead of folding again.
#[tokio::test]
async fn a_fold_whose_answer_was_lost_is_not_counted_twice() {
    let mut world = World::new(2);
    let org = OrgId::new();
    let users: Vec<String> = (0..20)
        .map(|n| format!("visitor-{n:02}-with-a-longer-id"))
        .collect();
    let chats: Vec<ChatId> = users.iter().map(|u| world.chat(org, u, &["t"])).collect();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut reader = world.reader().await;
    let mut folds = 0;
    for round in 0..30 {
        for index in [round % chats.len(), (round * 7) % chats.len()] {
            world.message(org, chats[index]);
            *expected.entry(users[index].clone()).or_default() += 1;
        }
        world.store.lose_tops_answers(1);
        folds += reader.flush().await.unwrap().commits.folds;
    }
    assert!(folds >= 2, "the pending list was folded ({folds} folds)");
    assert!(world.store.parked(10).await.unwrap().is_empty());
    let summary = world.summary(org);
    assert_eq!(summary.totals.messages, 60);
    assert_eq!(summary.top_users_error_bound, 0);
    assert!(!summary.top_users.is_empty());
    for user in &summary.top_users {
        assert_eq!(
            Some(&user.messages),
            expected.get(&user.user_id),
            "{}",
            user.user_id
        );
    }
}

#[tokio::test]
async fn a_poisoned_org_is_parked_alone_and_replayed_once_healed() {
    let mut world = World::new(4);
    let (healthy, poisoned) = (OrgId::new(), OrgId::new());
    let chats = [
        world.chat(healthy, "ann", &["billing"]),
        world.chat(poisoned, "bob", &["vip"]),
    ];
    for _ in 0..3 {
        world.message(healthy, chats[0]);
        world.message(poisoned, chats[1]);
    }
    world.store.poison(poisoned);
    let mut reader = world.reader().await;
    let report = reader.flush().await.unwrap();
    assert_eq!(report.commits.parked, 1);
    assert_eq!(world.summary(healthy).totals.messages, 3);
    assert_eq!(world.summary(poisoned).totals.messages, 0);
    assert_eq!(world.store.parked(10).await.unwrap().len(), 1);

    let still = replay_parked(&*world.store, 10).await.unwrap();
    assert_eq!(still.still_failing.len(), 1);
    world.store.heal(poisoned);
    let replayed = replay_parked(&*world.store, 10).await.unwrap();
    assert_eq!(replayed.replayed, 1);
    assert_eq!(replay_parked(&*world.store, 10).await.unwrap().replayed, 0);
    let summary = world.summary(poisoned);
    assert_eq!((summary.totals.messages, summary.totals.chats), (3, 1));
    assert_eq!(summary.top_users[0].user_id, "bob");
}

#[tokio::test]
async fn a_scheduled_invocation_returns_at_once_unless_the_reader_hands_over_soon() {
    use super::{Invocation, run_invocation};
    let world = World::new(2);
    let started = |ends_in: i64| {
        let world = &world;
        async move {
            match Reader::start(
                world.store.clone(),
                world.stream.clone(),
                world.clock.clone(),
                ReaderConfig::DEFAULT,
                world.clock.now() + time::Duration::seconds(ends_in),
            )
            .await
            .unwrap()
            {
                Start::Reading(reader) => *reader,
                Start::Held(_) => panic!("held"),
            }
        }
    };
    // Sleeping moves the manual clock on.
    let clock = world.clock.clone();
    let sleep = move |wait: Duration| {
        clock.advance(time::Duration::try_from(wait).unwrap());
        std::future::ready(())
    };
    let invoke = |until: OffsetDateTime| {
        run_invocation(
            world.store.clone(),
            world.stream.clone(),
            world.clock.clone(),
            ReaderConfig::DEFAULT,
            until,
            sleep.clone(),
        )
    };

    // A reader with 10 minutes to go: the invocation leaves it be.
    let running = started(600).await;
    let before = world.clock.now();
    let outcome = invoke(before + time::Duration::minutes(14)).await.unwrap();
    assert!(matches!(outcome, Invocation::Busy(_)));
    assert_eq!(world.clock.now(), before, "it returned at once");
    running.finish().await.unwrap();

    // One that hands over within 90 s (here: dies, its lease lapsing): the
    // invocation waits, takes over, and reads until its own end.
    let dying = started(30).await;
    drop(dying);
    let outcome = invoke(world.clock.now() + time::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(outcome, Invocation::Ran);
    let lease = world.store.lease().await.unwrap().unwrap();
    assert_eq!(lease.run, 3, "a third run took the lease");
}
