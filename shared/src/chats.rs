//! The dashboard's chat listing: a page of chats, each with its message
//! count and last activity, for at most [`LISTING_READ_BUDGET`] read units,
//! whatever the chats hold.
//!
//! No count is kept on the chat: that would be a second write per ingested
//! message, while reading the count costs only when a dashboard lists
//! chats. But anyone with a publishable key can make chats of any length,
//! and DynamoDB bills a read by the bytes of every item it reads, so each
//! listing spends from one budget:
//!
//! 1. the chats themselves ([`ChatStore::list_chats_within`]) may spend
//!    what is left after keeping one message read for every chat the page
//!    may list;
//! 2. then each chat's messages are read newest first, ids only
//!    ([`MessageStore::activity_page`]), several chats at once. Every read
//!    gets a `Limit` chosen so that even if every message were as large as
//!    ingest allows, the page could not go over the budget: it may use its
//!    share of what is neither spent, nor held by reads in flight, nor kept
//!    for the chats still waiting for their first read (one message each,
//!    so every chat gets its `last_message_at`). What a read did bill
//!    (DynamoDB's `ConsumedCapacity`) goes back to the pool, so a chat not
//!    counted to its end reads on while the budget lasts, three reads at
//!    most. Ordinary messages (1 KB, a fortieth of the largest) bill far
//!    less than the reads hold, so a page of ordinary chats is counted
//!    exactly; when the messages are as large as they get, the first reads
//!    spend most of the budget and the page's last chats are read one
//!    message each.
//!
//! The newest message gives `last_message_at`, always exact. The count is
//! exact when the reads reached the chat's first message, else a lower
//! bound, with `message_count_exact: false`.
//!
//! Who sees which chats is a [`ChatScope`]: [`list_visible_chats`] lists
//! what a scope lets its user see, [`visible_chat`] reads one chat only if
//! the scope allows it.

use std::collections::VecDeque;

use futures::{StreamExt, stream::FuturesUnordered};
use time::OffsetDateTime;

use crate::{
    domain::{Chat, ChatId, ChatScope, MessageId, OrgId},
    store::{
        ActivityPage, ChatFilter, ChatQuery, ChatStore, MessageStore, Page, PageRequest, ReadUnits,
        StoreResult, message_page_cost,
    },
};

/// What one chat listing may read: the chats and their messages'
/// activity (the sign-in check before it is not counted: a unit or two).
pub const LISTING_READ_BUDGET: ReadUnits = ReadUnits::whole(1_000);

/// How many activity reads a listing has in flight at once.
const PARALLEL_READS: usize = 10;
/// Reads of one chat's messages at most: a listing is then at most 300
/// queries (about 30 round trips), and a chat that three reads do not
/// count to its end is a lower bound.
const MAX_READS_PER_CHAT: usize = 3;

/// A chat's message count and last activity, as a listing reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChatActivity {
    /// Messages counted: all of them when `message_count_exact`, else a
    /// lower bound (the listing's budget, or the chat's reads, ran out
    /// before its first message).
    pub message_count: u64,
    pub message_count_exact: bool,
    /// When the newest message (by id) was logged; `None` before the first.
    pub last_message_at: Option<OffsetDateTime>,
}

/// A page of chats with their activity, and what reading it billed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatListing {
    pub page: Page<(Chat, ChatActivity)>,
    pub read: ReadUnits,
}

/// The dashboard's listing: the org's chats that `scope` lets its user
/// see, narrowed by `filter`, newest first, each with its activity (see
/// [`list_chats`]). A user limited to their own chats gets their own; one
/// who asks for another end user's chats, or who owns none, gets an empty
/// page, and nothing is read.
pub async fn list_visible_chats(
    chats: &dyn ChatStore,
    messages: &dyn MessageStore,
    org: OrgId,
    scope: &ChatScope,
    mut filter: ChatFilter,
    page: &PageRequest,
) -> StoreResult<ChatListing> {
    if let ChatScope::OwnChats(own) = scope {
        match (own, &filter.user_id) {
            (Some(own), None) => filter.user_id = Some(own.clone()),
            (Some(own), Some(asked)) if asked == own => {}
            _ => {
                return Ok(ChatListing {
                    page: Page::empty(),
                    read: ReadUnits::ZERO,
                });
            }
        }
    }
    let query = ChatQuery {
        filter,
        newest_first: true,
        ..ChatQuery::default()
    };
    list_chats(chats, messages, org, &query, page).await
}

/// One of the org's chats, if `scope` lets its user see it: `None` alike
/// for a chat outside the scope, a deleted chat and a missing one, so the
/// answer tells nothing about chats the user may not see.
pub async fn visible_chat(
    chats: &dyn ChatStore,
    org: OrgId,
    scope: &ChatScope,
    id: ChatId,
) -> StoreResult<Option<Chat>> {
    Ok(chats.chat(org, id).await?.filter(|chat| scope.allows(chat)))
}

/// Lists the org's chats for `query`, each with its activity, within
/// [`LISTING_READ_BUDGET`].
pub async fn list_chats(
    chats: &dyn ChatStore,
    messages: &dyn MessageStore,
    org: OrgId,
    query: &ChatQuery,
    page: &PageRequest,
) -> StoreResult<ChatListing> {
    let kept_for_activity = message_page_cost()
        .at_most(1)
        .times(usize::from(page.limit));
    let (listed, listing_read) = chats
        .list_chats_within(
            org,
            query,
            page,
            LISTING_READ_BUDGET.saturating_sub(kept_for_activity),
        )
        .await?;
    let ids: Vec<ChatId> = listed.items.iter().map(|chat| chat.id).collect();
    let budget = LISTING_READ_BUDGET.saturating_sub(listing_read);
    let (activity, activity_read) = chat_activity(messages, org, &ids, budget).await?;
    let read = listing_read + activity_read;
    tracing::debug!(
        chats = ids.len(),
        read_units = read.units(),
        inexact = activity.iter().filter(|a| !a.message_count_exact).count(),
        "chats listed"
    );
    Ok(ChatListing {
        page: Page {
            items: listed.items.into_iter().zip(activity).collect(),
            next_cursor: listed.next_cursor,
        },
        read,
    })
}

/// Where a chat's count stands.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Not read yet.
    First,
    /// Read down to this id; older messages may follow.
    After(MessageId),
    /// Read to its first message: the count is exact.
    Done,
}

/// A chat's activity as far as it was read.
#[derive(Debug, Clone, Copy)]
struct Tally {
    activity: ChatActivity,
    next: Next,
    reads: usize,
}

/// The activity of each of `chats` (in order), read for at most `budget`
/// (see the module's doc), and what the reads billed. A read whose answer
/// does not say what it billed counts at the most it could have.
pub async fn chat_activity(
    messages: &dyn MessageStore,
    org: OrgId,
    chats: &[ChatId],
    budget: ReadUnits,
) -> StoreResult<(Vec<ChatActivity>, ReadUnits)> {
    let cost = message_page_cost();
    let one = cost.at_most(1);
    let mut tallies = vec![
        Tally {
            activity: ChatActivity::default(),
            next: Next::First,
            reads: 0,
        };
        chats.len()
    ];
    // Chats waiting for their first read, and chats to read on, in order.
    let mut first: VecDeque<usize> = (0..chats.len()).collect();
    let mut again: VecDeque<usize> = VecDeque::new();
    // Billed by reads done, and the most the reads in flight may bill.
    let (mut spent, mut held) = (ReadUnits::ZERO, ReadUnits::ZERO);
    let mut reads = FuturesUnordered::new();
    loop {
        while reads.len() < PARALLEL_READS {
            let is_first = !first.is_empty();
            let Some(&index) = first.front().or(again.front()) else {
                break;
            };
            let others_waiting = first.len() - usize::from(is_first);
            let free = budget.saturating_sub(spent + held + one.times(others_waiting));
            // An even share among the reads that could start now; less
            // than one item's worth of a share is no use, so then the lot.
            let slots = (PARALLEL_READS - reads.len()).min(first.len() + again.len());
            let share = Some(free.share(slots))
                .filter(|share| *share >= one)
                .unwrap_or(free);
            let mut limit = cost.items_within(share);
            if is_first {
                // Affordable, since one item is kept for every chat
                // waiting (unless a store billed more than it could).
                limit = limit.max(1);
                first.pop_front();
            } else if limit == 0 {
                // Wait for the reads in flight to give back what they held.
                break;
            } else {
                again.pop_front();
            }
            let worst = cost.at_most(limit);
            held += worst;
            let after = match tallies[index].next {
                Next::After(id) => Some(id),
                Next::First | Next::Done => None,
            };
            let chat = chats[index];
            reads.push(async move {
                let page = messages.activity_page(org, chat, after, limit).await;
                (index, worst, page)
            });
        }
        let Some((index, worst, page)) = reads.next().await else {
            break;
        };
        let page: ActivityPage = page?;
        held = held.saturating_sub(worst);
        let billed = page.read.unwrap_or(worst);
        if billed > worst {
            tracing::warn!(
                chat_id = %chats[index],
                billed = billed.units(),
                at_most = worst.units(),
                "an activity read billed more than its largest items could"
            );
        }
        // Every read bills something: none is counted free.
        spent += billed.max(cost.at_most(0));
        let tally = &mut tallies[index];
        if matches!(tally.next, Next::First) {
            tally.activity.last_message_at = page.newest_at;
        }
        tally.activity.message_count += page.count;
        tally.reads += 1;
        tally.next = match page.more_after {
            Some(id) => {
                if tally.reads < MAX_READS_PER_CHAT {
                    again.push_back(index);
                }
                Next::After(id)
            }
            None => Next::Done,
        };
    }
    let activity = tallies
        .into_iter()
        .map(|tally| ChatActivity {
            message_count_exact: matches!(tally.next, Next::Done),
            ..tally.activity
        })
        .collect();
    Ok((activity, spent))
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{
            Mutex,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use async_trait::async_trait;

    use super::*;
    use crate::{
        domain::{EndUserId, MAX_CONTENT_BYTES, Message, MessageContent, MessageRole, Metadata},
        store::{
            ChatCheck, MemoryStore, MessageInsert, Read,
            billing::{PAGE_BYTES, PageCost},
        },
    };

    /// A store of chats that are only sizes: each holds `count` messages
    /// of `bytes` bytes each (as DynamoDB sizes items), the `n`th (0 the
    /// oldest) with the id [`nth`]`(n)`. Reads are billed as DynamoDB bills
    /// them, pages stop at their limit (with a cursor even if nothing is
    /// left, as DynamoDB does) or after 1 MB.
    struct Synthetic {
        chats: HashMap<ChatId, (u64, u64)>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        reads: Mutex<Vec<ReadUnits>>,
    }

    impl Synthetic {
        fn new(chats: &[(ChatId, u64, u64)]) -> Self {
            Self {
                chats: chats
                    .iter()
                    .map(|(id, count, bytes)| (*id, (*count, *bytes)))
                    .collect(),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
                reads: Mutex::new(Vec::new()),
            }
        }
    }

    fn at(n: u64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + n as i64).unwrap()
    }

    /// The id of a synthetic chat's `n`th message (0 the oldest).
    fn nth(n: u64) -> MessageId {
        MessageId::first_at(at(n))
    }

    #[async_trait]
    impl MessageStore for Synthetic {
        async fn insert_message(
            &self,
            _: OrgId,
            _: &Message,
            _: ChatCheck,
        ) -> StoreResult<MessageInsert> {
            unreachable!()
        }

        async fn list_messages(
            &self,
            _: OrgId,
            _: ChatId,
            _: std::ops::RangeInclusive<MessageId>,
            _: &PageRequest,
            _: Read,
        ) -> StoreResult<Page<Message>> {
            unreachable!()
        }

        async fn delete_key_messages(
            &self,
            _: OrgId,
            _: ChatId,
            _: crate::domain::ApiKeyId,
            _: std::ops::Range<OffsetDateTime>,
        ) -> StoreResult<usize> {
            unreachable!()
        }

        async fn activity_page(
            &self,
            _: OrgId,
            chat: ChatId,
            after: Option<MessageId>,
            limit: u32,
        ) -> StoreResult<ActivityPage> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            let (count, bytes) = self.chats[&chat];
            // Messages older than `after`: those with a smaller index.
            let below = after.map_or(count, |id| {
                (0..count)
                    .find(|n| nth(*n) == id)
                    .expect("a cursor of ours")
            });
            let mut page = ActivityPage::default();
            let mut read = 0;
            let mut n = below;
            while n > 0 && page.count < u64::from(limit) && read < PAGE_BYTES {
                n -= 1;
                read += bytes;
                page.count += 1;
                page.newest_at.get_or_insert(at(n));
            }
            if page.count == u64::from(limit) || (n > 0 && read >= PAGE_BYTES) {
                page.more_after = Some(nth(n));
            }
            let billed = ReadUnits::of_bytes(read, Read::Eventual);
            page.read = Some(billed);
            self.reads.lock().unwrap().push(billed);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(page)
        }
    }

    async fn activity(
        chats: &[(ChatId, u64, u64)],
        budget: ReadUnits,
    ) -> (Vec<ChatActivity>, ReadUnits, Synthetic) {
        let store = Synthetic::new(chats);
        let ids: Vec<ChatId> = chats.iter().map(|(id, _, _)| *id).collect();
        let (activity, read) = chat_activity(&store, OrgId::new(), &ids, budget)
            .await
            .unwrap();
        (activity, read, store)
    }

    /// What a page of 100 chats leaves for their activity when the chat
    /// items are small (about 8 units for the lot).
    fn ordinary_budget() -> ReadUnits {
        LISTING_READ_BUDGET.saturating_sub(ReadUnits::whole(10))
    }

    /// The least a page of 100 chats leaves for their activity: the chats
    /// may take all but one message read for each.
    fn least_budget() -> ReadUnits {
        message_page_cost().at_most(1).times(100)
    }

    fn chats(count: usize, messages: u64, bytes: u64) -> Vec<(ChatId, u64, u64)> {
        (0..count)
            .map(|_| (ChatId::new(), messages, bytes))
            .collect()
    }

    fn billed(store: &Synthetic) -> ReadUnits {
        store.reads.lock().unwrap().iter().copied().sum()
    }

    #[tokio::test]
    async fn a_hundred_ordinary_chats_are_counted_exactly() {
        // 20 messages of 1 KB each.
        let listed = chats(100, 20, 1_100);
        let (activity, read, store) = activity(&listed, ordinary_budget()).await;
        assert_eq!(read, billed(&store));
        for got in &activity {
            assert_eq!(got.message_count, 20);
            assert!(got.message_count_exact);
            assert_eq!(got.last_message_at, Some(at(19)));
        }
        // 22 KB a chat: 3 units in one read, at most 3.5 in the two the
        // first read's small limit makes it.
        assert!(read <= ReadUnits::whole(350), "{read}");
        assert!(store.most_in_flight.load(Ordering::SeqCst) <= PARALLEL_READS);
    }

    #[tokio::test]
    async fn a_hundred_chats_of_more_than_4_mb_stay_within_the_budget() {
        let big = u64::try_from(MAX_CONTENT_BYTES).unwrap() + 1_000;
        for (messages, bytes) in [(4_500, 1_000), (130, big), (30, largest())] {
            for budget in [least_budget(), ordinary_budget()] {
                let listed = chats(100, messages, bytes);
                let (activity, read, store) = activity(&listed, budget).await;
                assert_eq!(read, billed(&store));
                assert!(read <= budget, "{messages} x {bytes} B: {read} of {budget}");
                for got in &activity {
                    assert_eq!(got.last_message_at, Some(at(messages - 1)), "newest first");
                    assert!(got.message_count >= 1);
                    assert!(got.message_count <= messages);
                    assert_eq!(got.message_count_exact, got.message_count == messages);
                }
                assert!(activity.iter().any(|a| !a.message_count_exact));
            }
        }
    }

    #[tokio::test]
    async fn small_chats_among_big_ones_are_still_exact_and_every_chat_gets_its_last_activity() {
        let mut listed = chats(50, 4_500, 1_000);
        listed.extend(chats(40, 20, 1_000));
        listed.extend(chats(10, 0, 0));
        let (activity, read, _) = activity(&listed, ordinary_budget()).await;
        assert!(read <= ordinary_budget());
        for (got, (_, messages, _)) in activity.iter().zip(&listed) {
            if *messages <= 20 {
                assert!(got.message_count_exact, "{got:?}");
                assert_eq!(got.message_count, *messages);
            }
            let last = messages.checked_sub(1).map(at);
            assert_eq!(got.last_message_at, last);
        }
    }

    #[tokio::test]
    async fn a_chat_that_fills_its_last_page_exactly_is_exact_after_one_more_read() {
        // Limits fall on 20 for none of these; whatever they are, a page
        // that ends on the chat's last message still leaves a cursor.
        for messages in 1..=40 {
            let listed = chats(1, messages, 100);
            let (activity, _, _) = activity(&listed, least_budget()).await;
            assert_eq!(activity[0].message_count, messages);
            assert!(activity[0].message_count_exact);
        }
    }

    #[tokio::test]
    async fn a_tiny_budget_still_reads_each_chats_newest_message() {
        let listed = chats(3, 10, 100);
        let store = Synthetic::new(&listed);
        let ids: Vec<ChatId> = listed.iter().map(|(id, _, _)| *id).collect();
        let (activity, read) = chat_activity(&store, OrgId::new(), &ids, ReadUnits::ZERO)
            .await
            .unwrap();
        assert_eq!(
            read,
            ReadUnits::whole(3).share(2),
            "three reads of one item"
        );
        for got in activity {
            assert_eq!(got.last_message_at, Some(at(9)));
            assert_eq!(got.message_count, 1);
            assert!(!got.message_count_exact);
        }
    }

    fn largest() -> u64 {
        message_page_cost().largest_item
    }

    #[test]
    fn the_largest_message_is_what_ingest_allows_and_one_of_each_chat_fits_the_budget() {
        let largest = largest();
        assert!(
            (40_000..44_000).contains(&largest),
            "{largest} bytes: about 32 KiB of content, 8 KiB of metadata, and fields"
        );
        let one = message_page_cost().at_most(1);
        let chat_listing = PageCost {
            largest_item: crate::store::largest_chat_item(),
            read: Read::Consistent,
        };
        // What a page of 100 chats may spend on its chats (the budget less
        // one message read for each) reads 100 of the largest chat items,
        // read consistently, in two queries (the first stops at 1 MB).
        let for_chats = LISTING_READ_BUDGET.saturating_sub(one.times(100));
        let hundred = ReadUnits::of_bytes(100 * chat_listing.largest_item, Read::Consistent);
        assert!(
            hundred + ReadUnits::whole(1) <= for_chats,
            "{hundred} of {for_chats}"
        );
    }

    #[tokio::test]
    async fn the_in_memory_store_keeps_the_same_contract() {
        let store = MemoryStore::new();
        let org = OrgId::new();
        let content = MessageContent::parse(&"x".repeat(MAX_CONTENT_BYTES)).unwrap();
        let (small, big) = (ChatId::new(), ChatId::new());
        for (chat, count) in [(small, 3), (big, 300)] {
            for n in 0..count {
                let message = Message {
                    id: MessageId::at(at(n)),
                    chat_id: chat,
                    role: MessageRole::User,
                    content: content.clone(),
                    metadata: Metadata::default(),
                    latency_ms: None,
                    token_count: None,
                    key_id: None,
                    created_at: at(n) + time::Duration::milliseconds(250),
                };
                store
                    .insert_message(org, &message, ChatCheck::KnownToExist)
                    .await
                    .unwrap();
            }
        }
        let (activity, read) = chat_activity(&store, org, &[small, big], ReadUnits::whole(100))
            .await
            .unwrap();
        assert!(read <= ReadUnits::whole(100), "{read}");
        assert_eq!(activity[0].message_count, 3);
        assert!(activity[0].message_count_exact);
        assert_eq!(
            activity[0].last_message_at,
            Some(at(2) + time::Duration::milliseconds(250)),
            "the newest message's own time, not its id's"
        );
        assert!(!activity[1].message_count_exact);
        assert!((1..300).contains(&activity[1].message_count));
    }

    #[tokio::test]
    async fn the_in_memory_chat_listing_stops_within_its_budget_and_goes_on_from_its_cursor() {
        let store = MemoryStore::new();
        let org = OrgId::new();
        let metadata = Metadata::parse(serde_json::json!({"k": "x".repeat(8_000)})).unwrap();
        let mut made = Vec::new();
        for n in 0..30 {
            let chat = Chat {
                id: ChatId::at(at(n)),
                title: None,
                tags: crate::domain::Tags::default(),
                metadata: metadata.clone(),
                user_id: None,
                key_id: None,
                created_at: at(n),
            };
            store.insert_chat(org, &chat).await.unwrap();
            made.push(chat.id);
        }
        made.reverse();
        let query = ChatQuery {
            newest_first: true,
            ..ChatQuery::default()
        };
        let budget = ReadUnits::whole(20);
        let (mut listed, mut cursor) = (Vec::new(), None);
        loop {
            let page = PageRequest {
                limit: 100,
                cursor: cursor.take(),
            };
            let (page, read) = store
                .list_chats_within(org, &query, &page, budget)
                .await
                .unwrap();
            assert!(read <= budget, "{read}");
            assert!(page.items.len() < 30, "8 KB chats: about 10 in 20 units");
            listed.extend(page.items.iter().map(|chat| chat.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(listed, made, "every chat once, newest first");
        let (unbounded, _) = store
            .list_chats(org, &query, &PageRequest::default(), u32::MAX)
            .await
            .unwrap();
        assert_eq!(unbounded.items.len(), 30);
    }

    /// An org with a chat of ann's (two messages), one of bob's and an
    /// anonymous one, oldest first.
    async fn three_chats(store: &MemoryStore, org: OrgId) -> [ChatId; 3] {
        let mut ids = [ChatId::new(); 3];
        for (n, user) in [Some("ann@acme.example"), Some("bob@acme.example"), None]
            .into_iter()
            .enumerate()
        {
            let chat = Chat {
                id: ChatId::at(at(n as u64)),
                title: None,
                tags: crate::domain::Tags::default(),
                metadata: Metadata::default(),
                user_id: user.map(|u| EndUserId::parse(u).unwrap()),
                key_id: None,
                created_at: at(n as u64),
            };
            store.insert_chat(org, &chat).await.unwrap();
            ids[n] = chat.id;
        }
        for m in 0..2 {
            let message = Message {
                id: MessageId::at(at(10 + m)),
                chat_id: ids[0],
                role: MessageRole::User,
                content: MessageContent::parse("hello").unwrap(),
                metadata: Metadata::default(),
                latency_ms: None,
                token_count: None,
                key_id: None,
                created_at: at(10 + m),
            };
            store
                .insert_message(org, &message, ChatCheck::Verify)
                .await
                .unwrap();
        }
        ids
    }

    fn own(email: &str) -> ChatScope {
        ChatScope::OwnChats(Some(EndUserId::parse(email).unwrap()))
    }

    async fn visible(
        store: &MemoryStore,
        org: OrgId,
        scope: &ChatScope,
        filter: ChatFilter,
    ) -> Vec<ChatId> {
        list_visible_chats(store, store, org, scope, filter, &PageRequest::default())
            .await
            .unwrap()
            .page
            .items
            .iter()
            .map(|(chat, _)| chat.id)
            .collect()
    }

    #[tokio::test]
    async fn the_whole_org_sees_every_chat_newest_first_with_its_activity() {
        let store = MemoryStore::new();
        let org = OrgId::new();
        let [ann, bob, anonymous] = three_chats(&store, org).await;
        let listing = list_visible_chats(
            &store,
            &store,
            org,
            &ChatScope::WholeOrg,
            ChatFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
        let ids: Vec<ChatId> = listing.page.items.iter().map(|(chat, _)| chat.id).collect();
        assert_eq!(ids, [anonymous, bob, ann]);
        let anns = listing.page.items[2].1;
        assert_eq!((anns.message_count, anns.message_count_exact), (2, true));
        assert_eq!(anns.last_message_at, Some(at(11)));
        assert_eq!(listing.page.items[0].1.last_message_at, None);
        let filtered = ChatFilter {
            user_id: Some(EndUserId::parse("bob@acme.example").unwrap()),
            ..ChatFilter::default()
        };
        assert_eq!(
            visible(&store, org, &ChatScope::WholeOrg, filtered).await,
            [bob]
        );
    }

    #[tokio::test]
    async fn a_user_sees_only_their_own_chats_whatever_they_ask_for() {
        let store = MemoryStore::new();
        let org = OrgId::new();
        let [ann, _, _] = three_chats(&store, org).await;
        let scope = own("ann@acme.example");
        assert_eq!(
            visible(&store, org, &scope, ChatFilter::default()).await,
            [ann]
        );
        let asking_for_own = ChatFilter {
            user_id: Some(EndUserId::parse("ann@acme.example").unwrap()),
            ..ChatFilter::default()
        };
        assert_eq!(visible(&store, org, &scope, asking_for_own).await, [ann]);
        let asking_for_bobs = ChatFilter {
            user_id: Some(EndUserId::parse("bob@acme.example").unwrap()),
            ..ChatFilter::default()
        };
        let listing = list_visible_chats(
            &store,
            &store,
            org,
            &scope,
            asking_for_bobs,
            &PageRequest::default(),
        )
        .await
        .unwrap();
        assert!(listing.page.items.is_empty() && listing.page.next_cursor.is_none());
        assert_eq!(
            listing.read,
            ReadUnits::ZERO,
            "nothing is read for an empty scope"
        );
        let nobody = ChatScope::OwnChats(None);
        assert!(
            visible(&store, org, &nobody, ChatFilter::default())
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_chat_outside_the_scope_reads_as_missing() {
        let store = MemoryStore::new();
        let org = OrgId::new();
        let [ann, bob, anonymous] = three_chats(&store, org).await;
        let scope = own("ann@acme.example");
        let read = |id| visible_chat(&store, org, &scope, id);
        assert_eq!(read(ann).await.unwrap().map(|chat| chat.id), Some(ann));
        assert_eq!(read(bob).await.unwrap(), None);
        assert_eq!(read(anonymous).await.unwrap(), None);
        assert_eq!(read(ChatId::new()).await.unwrap(), None);
        let other_org = visible_chat(&store, OrgId::new(), &ChatScope::WholeOrg, ann).await;
        assert_eq!(other_org.unwrap(), None);
    }
}
