//! Chats and their messages: ids claimed once (and an identical write
//! taken for its own retry), tombstones, tenant scoping, listings with
//! their order, filters, cursors and read budget, activity pages, and the
//! sweep of deleted chats.

use serde_json::json;
use time::Duration;

use super::{at, chat, every_page, first, message};
use crate::{
    clock::ManualClock,
    domain::{
        ApiKeyId, CHAT_SWEEP_DELAY, Chat, ChatId, ChatTitle, EndUserId, Message, MessageContent,
        MessageId, Metadata, OrgId, Tag, Tags,
    },
    store::{
        ChatChanges, ChatCheck, ChatFilter, ChatInsert, ChatQuery, ChatStore, ChatSweep,
        DeletedChatStore, Inserted, MessageInsert, MessageStore, PageRequest, Read, ReadUnits,
    },
};

fn created(chat: &Chat) -> ChatInsert {
    ChatInsert::Inserted(Inserted::Created(chat.clone()))
}

fn existing(chat: &Chat) -> ChatInsert {
    ChatInsert::Inserted(Inserted::Existing(chat.clone()))
}

fn logged(message: &Message) -> MessageInsert {
    MessageInsert::Inserted(Inserted::Created(message.clone()))
}

fn tags(names: &[&str]) -> Tags {
    Tags::parse(names.iter().map(|n| Tag::parse(n).unwrap()).collect()).unwrap()
}

fn ids(chats: &[Chat]) -> Vec<ChatId> {
    chats.iter().map(|chat| chat.id).collect()
}

/// The org's chats as a listing of `query` returns them, two at a time.
async fn listed(store: &impl ChatStore, org: OrgId, query: &ChatQuery) -> Vec<ChatId> {
    let chats = every_page(2, |page| async move {
        let (page, _) = store.list_chats(org, query, &page, u32::MAX).await?;
        Ok(page)
    })
    .await;
    ids(&chats)
}

fn newest_first(filter: ChatFilter) -> ChatQuery {
    ChatQuery {
        filter,
        newest_first: true,
        ..ChatQuery::default()
    }
}

/// A chat's id is claimed by its first insert: a later request with the
/// id gets the stored chat back, unchanged. A write equal to the stored
/// item is that insert's own retry (its answer lost): created, again.
pub async fn a_chat_id_is_claimed_once(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let first = chat(0);
    assert_eq!(
        store.insert_chat(acme, &first).await.unwrap(),
        created(&first)
    );
    let later = Chat {
        title: Some(ChatTitle::parse("Other").unwrap()),
        created_at: at(1),
        ..first.clone()
    };
    assert_eq!(
        store.insert_chat(acme, &later).await.unwrap(),
        existing(&first)
    );
    assert_eq!(
        store.insert_chat(acme, &first).await.unwrap(),
        created(&first)
    );
    assert_eq!(
        store.chat(acme, first.id).await.unwrap(),
        Some(first.clone())
    );

    // Once changed, the stored chat is no longer any insert's own write.
    let titled = ChatChanges {
        title: Some(Some(ChatTitle::parse("Titled").unwrap())),
        ..ChatChanges::default()
    };
    let updated = store
        .update_chat(acme, first.id, &titled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.insert_chat(acme, &first).await.unwrap(),
        existing(&updated)
    );
}

/// A deleted chat's id stays taken: inserting it again writes nothing.
pub async fn a_deleted_chats_id_stays_taken(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let gone = chat(0);
    store.insert_chat(acme, &gone).await.unwrap();
    assert!(store.delete_chat(acme, gone.id, at(10)).await.unwrap());
    assert_eq!(
        store.insert_chat(acme, &gone).await.unwrap(),
        ChatInsert::Deleted
    );
    let later = Chat {
        created_at: at(20),
        ..gone.clone()
    };
    assert_eq!(
        store.insert_chat(acme, &later).await.unwrap(),
        ChatInsert::Deleted
    );
    assert_eq!(store.chat(acme, gone.id).await.unwrap(), None);
}

/// Another org reaches none of an org's chats, by any call; the same id
/// in another org is another chat.
pub async fn another_orgs_chats_are_out_of_reach(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let mine = chat(0);
    store.insert_chat(acme, &mine).await.unwrap();
    let hello = message(mine.id, 1);
    store
        .insert_message(acme, &hello, ChatCheck::Verify)
        .await
        .unwrap();

    assert_eq!(store.chat(globex, mine.id).await.unwrap(), None);
    assert!(!store.chat_is_live(globex, mine.id).await.unwrap());
    assert_eq!(store.chats_by_id(globex, &[mine.id]).await.unwrap(), []);
    assert_eq!(listed(store, globex, &ChatQuery::default()).await, []);
    let titled = ChatChanges {
        title: Some(Some(ChatTitle::parse("Mine now").unwrap())),
        ..ChatChanges::default()
    };
    assert_eq!(
        store.update_chat(globex, mine.id, &titled).await.unwrap(),
        None
    );
    assert!(!store.delete_chat(globex, mine.id, at(10)).await.unwrap());
    let all = MessageId::MIN..=MessageId::MAX;
    let theirs = store
        .list_messages(globex, mine.id, all.clone(), &first(10), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(theirs.items, []);
    assert_eq!(
        store
            .activity_page(globex, mine.id, None, 10)
            .await
            .unwrap()
            .count,
        0
    );

    let same_id = Chat {
        title: Some(ChatTitle::parse("Theirs").unwrap()),
        ..mine.clone()
    };
    assert_eq!(
        store.insert_chat(globex, &same_id).await.unwrap(),
        created(&same_id)
    );
    assert_eq!(store.chat(acme, mine.id).await.unwrap(), Some(mine.clone()));
    let ours = store
        .list_messages(acme, mine.id, all, &first(10), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(ours.items, [hello]);
}

/// The org's chats by id, newest or oldest first, page by page, up to
/// `last_id` when given.
pub async fn chats_are_listed_newest_or_oldest_first(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let chats: Vec<Chat> = (0..5).map(chat).collect();
    for chat in chats.iter().rev() {
        store.insert_chat(acme, chat).await.unwrap();
    }
    store.insert_chat(OrgId::new(), &chat(2)).await.unwrap();
    let oldest_first = ids(&chats);
    let newest: Vec<ChatId> = oldest_first.iter().rev().copied().collect();
    assert_eq!(
        listed(store, acme, &newest_first(ChatFilter::default())).await,
        newest
    );
    assert_eq!(
        listed(store, acme, &ChatQuery::default()).await,
        oldest_first
    );
    let up_to_the_third = ChatQuery {
        last_id: Some(chats[2].id),
        read: Read::Eventual,
        ..newest_first(ChatFilter::default())
    };
    assert_eq!(listed(store, acme, &up_to_the_third).await, newest[2..]);
}

/// Listings skip deleted chats, and those their filter rules out (tag,
/// time, end user), page after page.
pub async fn listings_skip_deleted_and_filtered_chats(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let ann = EndUserId::parse("ann@shop.example").unwrap();
    let chats: Vec<Chat> = (0..8)
        .map(|n| Chat {
            tags: if n % 2 == 0 {
                tags(&["vip"])
            } else {
                tags(&["other"])
            },
            user_id: (n % 3 == 0).then(|| ann.clone()),
            ..chat(n * 60)
        })
        .collect();
    for chat in &chats {
        store.insert_chat(acme, chat).await.unwrap();
    }
    store.delete_chat(acme, chats[6].id, at(600)).await.unwrap();
    let kept = |keep: &dyn Fn(usize) -> bool| -> Vec<ChatId> {
        (0..8)
            .rev()
            .filter(|n| *n != 6 && keep(*n))
            .map(|n| chats[n].id)
            .collect()
    };

    let all = newest_first(ChatFilter::default());
    assert_eq!(listed(store, acme, &all).await, kept(&|_| true));
    let vip = newest_first(ChatFilter {
        tag: Some(Tag::parse("vip").unwrap()),
        ..ChatFilter::default()
    });
    assert_eq!(listed(store, acme, &vip).await, kept(&|n| n % 2 == 0));
    let anns = newest_first(ChatFilter {
        user_id: Some(ann.clone()),
        ..ChatFilter::default()
    });
    assert_eq!(listed(store, acme, &anns).await, kept(&|n| n % 3 == 0));
    let between = newest_first(ChatFilter {
        from: Some(at(120)),
        to: Some(at(300)),
        ..ChatFilter::default()
    });
    assert_eq!(
        listed(store, acme, &between).await,
        kept(&|n| (2..5).contains(&n))
    );
    let everything = newest_first(ChatFilter {
        from: Some(at(60)),
        tag: Some(Tag::parse("vip").unwrap()),
        user_id: Some(ann),
        ..ChatFilter::default()
    });
    assert_eq!(listed(store, acme, &everything).await, kept(&|n| n == 6));
}

/// A listing counts the chat items it reads, as DynamoDB's `ScannedCount`
/// does: the deleted chats and those its filter skips too (an end user's
/// listing reads the index, which deleted chats leave). It reads no more
/// than its bound (at least one chat), and stops there with a cursor.
pub async fn listings_count_the_chats_they_read_skipped_ones_too(
    store: &impl ChatStore,
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let ann = EndUserId::parse("ann@shop.example").unwrap();
    let chats: Vec<Chat> = (0..6)
        .map(|n| Chat {
            tags: if n == 1 || n == 4 {
                tags(&["vip"])
            } else {
                Tags::default()
            },
            user_id: (n % 2 == 0).then(|| ann.clone()),
            ..chat(n * 60)
        })
        .collect();
    for chat in &chats {
        store.insert_chat(acme, chat).await.unwrap();
    }
    for deleted in [2, 3] {
        store
            .delete_chat(acme, chats[deleted].id, at(600))
            .await
            .unwrap();
    }
    let oldest_first = |filter| ChatQuery {
        filter,
        ..ChatQuery::default()
    };
    let list = |query: ChatQuery, page: PageRequest, max_read: u32| async move {
        let (page, read) = store
            .list_chats(acme, &query, &page, max_read)
            .await
            .unwrap();
        (ids(&page.items), page.next_cursor, read)
    };
    let the = |ns: &[usize]| -> Vec<ChatId> { ns.iter().map(|n| chats[*n].id).collect() };

    let all = oldest_first(ChatFilter::default());
    let (found, _, read) = list(all.clone(), first(10), 100).await;
    assert_eq!((found, read), (the(&[0, 1, 4, 5]), 6));
    let vip = oldest_first(ChatFilter {
        tag: Some(Tag::parse("vip").unwrap()),
        ..ChatFilter::default()
    });
    let (found, _, read) = list(vip, first(10), 100).await;
    assert_eq!((found, read), (the(&[1, 4]), 6));
    let anns = oldest_first(ChatFilter {
        user_id: Some(ann),
        ..ChatFilter::default()
    });
    let (found, _, read) = list(anns, first(10), 100).await;
    assert_eq!((found, read), (the(&[0, 4]), 2), "chat 2 left the index");

    // A full page counts the deleted chats read on the way to filling it.
    let (found, cursor, read) = list(all.clone(), first(3), 100).await;
    assert_eq!((found, read), (the(&[0, 1, 4]), 5));
    assert!(cursor.is_some());

    // Bounded at 3 chats: the deleted third is read, and counted.
    let (found, cursor, read) = list(all.clone(), first(10), 3).await;
    assert_eq!((found, read), (the(&[0, 1]), 3));
    let rest = PageRequest {
        limit: 10,
        cursor: Some(cursor.expect("a cursor to go on from")),
    };
    let (found, _, read) = list(all.clone(), rest, 3).await;
    assert_eq!((found, read), (the(&[4, 5]), 3));

    // With no bound left it still reads one chat, to move on.
    let (found, cursor, read) = list(all, first(10), 0).await;
    assert_eq!((found, read), (the(&[0]), 1));
    assert!(cursor.is_some());
}

/// `from` and `to` bound chats' creation times to the whole second: a
/// chat made within `from`'s second is in, one made within `to`'s out.
pub async fn time_filters_compare_whole_seconds(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let early = Chat {
        created_at: at(10) + Duration::milliseconds(250),
        ..chat(10)
    };
    let late = Chat {
        created_at: at(20) + Duration::milliseconds(750),
        ..chat(20)
    };
    store.insert_chat(acme, &early).await.unwrap();
    store.insert_chat(acme, &late).await.unwrap();
    let window = |from, to| {
        newest_first(ChatFilter {
            from: Some(from),
            to: Some(to),
            ..ChatFilter::default()
        })
    };
    let within_their_seconds = window(
        at(10) + Duration::milliseconds(500),
        at(20) + Duration::milliseconds(900),
    );
    assert_eq!(listed(store, acme, &within_their_seconds).await, [early.id]);
    let to_the_next_second = window(at(10) + Duration::milliseconds(500), at(21));
    assert_eq!(
        listed(store, acme, &to_the_next_second).await,
        [late.id, early.id]
    );
    let from_the_next_second = window(at(11), at(21));
    assert_eq!(listed(store, acme, &from_the_next_second).await, [late.id]);
}

/// An update changes what it names (a title of `Some(None)` is cleared);
/// a deleted or missing chat is `None`.
pub async fn a_chat_update_changes_only_what_it_names(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let original = Chat {
        title: Some(ChatTitle::parse("Support").unwrap()),
        tags: tags(&["vip"]),
        user_id: Some(EndUserId::parse("ann@shop.example").unwrap()),
        ..chat(0)
    };
    store.insert_chat(acme, &original).await.unwrap();
    let retagged = ChatChanges {
        tags: Some(tags(&["vip", "refund"])),
        metadata: Some(Metadata::parse(json!({ "order": 42 })).unwrap()),
        ..ChatChanges::default()
    };
    let updated = store
        .update_chat(acme, original.id, &retagged)
        .await
        .unwrap();
    let expected = Chat {
        tags: tags(&["vip", "refund"]),
        metadata: Metadata::parse(json!({ "order": 42 })).unwrap(),
        ..original.clone()
    };
    assert_eq!(updated, Some(expected.clone()));
    let untitled = ChatChanges {
        title: Some(None),
        ..ChatChanges::default()
    };
    let updated = store
        .update_chat(acme, original.id, &untitled)
        .await
        .unwrap();
    let expected = Chat {
        title: None,
        ..expected
    };
    assert_eq!(updated, Some(expected.clone()));
    assert_eq!(store.chat(acme, original.id).await.unwrap(), Some(expected));

    store.delete_chat(acme, original.id, at(10)).await.unwrap();
    assert_eq!(
        store
            .update_chat(acme, original.id, &retagged)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_chat(acme, ChatId::new(), &retagged)
            .await
            .unwrap(),
        None
    );
}

/// Deleting a chat hides it from every read at once and deletes its
/// messages; deleting again still answers true (it finishes an
/// interrupted delete), deleting a chat the org never had false.
pub async fn deleting_a_chat_hides_it_and_its_messages(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let (gone, kept) = (chat(0), chat(1));
    store.insert_chat(acme, &gone).await.unwrap();
    store.insert_chat(acme, &kept).await.unwrap();
    for n in 2..5 {
        let check = ChatCheck::Verify;
        store
            .insert_message(acme, &message(gone.id, n), check)
            .await
            .unwrap();
        store
            .insert_message(acme, &message(kept.id, n), check)
            .await
            .unwrap();
    }
    assert!(store.delete_chat(acme, gone.id, at(10)).await.unwrap());
    assert_eq!(store.chat(acme, gone.id).await.unwrap(), None);
    assert!(!store.chat_is_live(acme, gone.id).await.unwrap());
    assert_eq!(
        store.chats_by_id(acme, &[gone.id, kept.id]).await.unwrap(),
        vec![kept.clone()]
    );
    assert_eq!(listed(store, acme, &ChatQuery::default()).await, [kept.id]);
    let all = MessageId::MIN..=MessageId::MAX;
    let left = |chat: ChatId| {
        let all = all.clone();
        async move {
            let page = store
                .list_messages(acme, chat, all, &first(10), Read::Consistent)
                .await;
            page.unwrap().items.len()
        }
    };
    assert_eq!((left(gone.id).await, left(kept.id).await), (0, 3));
    assert_eq!(
        store
            .activity_page(acme, gone.id, None, 10)
            .await
            .unwrap()
            .count,
        0
    );

    assert!(store.delete_chat(acme, gone.id, at(20)).await.unwrap());
    assert!(
        !store
            .delete_chat(acme, ChatId::new(), at(20))
            .await
            .unwrap()
    );
}

/// The named chats that exist and are live, in id order whatever the
/// order asked; naming a chat twice is an error (DynamoDB's batch read
/// refuses it).
pub async fn chats_by_id_are_the_live_ones_in_id_order(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let chats: Vec<Chat> = (0..3).map(chat).collect();
    for chat in &chats {
        store.insert_chat(acme, chat).await.unwrap();
    }
    store.delete_chat(acme, chats[1].id, at(10)).await.unwrap();
    let asked = [chats[2].id, ChatId::new(), chats[1].id, chats[0].id];
    let found = store.chats_by_id(acme, &asked).await.unwrap();
    assert_eq!(found, [chats[0].clone(), chats[2].clone()]);
    assert_eq!(store.chats_by_id(acme, &[]).await.unwrap(), []);
    let twice = [chats[0].id, chats[0].id];
    assert!(store.chats_by_id(acme, &twice).await.is_err());
}

/// With no read budget left a listing still reads one chat, and stops
/// there with a cursor that the next page goes on from; what it read is
/// billed.
pub async fn a_budgeted_listing_reads_one_chat_at_least(store: &impl ChatStore, _: &ManualClock) {
    let acme = OrgId::new();
    let chats: Vec<Chat> = (0..4).map(chat).collect();
    for chat in &chats {
        store.insert_chat(acme, chat).await.unwrap();
    }
    let query = newest_first(ChatFilter::default());
    let (page, read) = store
        .list_chats_within(acme, &query, &first(10), ReadUnits::ZERO)
        .await
        .unwrap();
    assert_eq!(ids(&page.items), [chats[3].id]);
    assert!(read > ReadUnits::ZERO);
    let rest = PageRequest {
        limit: 10,
        cursor: Some(page.next_cursor.expect("a cursor to go on from")),
    };
    let (page, _) = store
        .list_chats_within(acme, &query, &rest, ReadUnits::whole(1_000))
        .await
        .unwrap();
    assert_eq!(ids(&page.items), [chats[2].id, chats[1].id, chats[0].id]);
    assert_eq!(page.next_cursor, None);
}

/// A message's id is claimed by its first insert: a later request with
/// the id gets the stored message back. A write equal to the stored item
/// is that insert's own retry: created, again.
pub async fn a_message_id_is_claimed_once(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let conversation = chat(0);
    store.insert_chat(acme, &conversation).await.unwrap();
    let hello = message(conversation.id, 1);
    let verify = ChatCheck::Verify;
    assert_eq!(
        store.insert_message(acme, &hello, verify).await.unwrap(),
        logged(&hello)
    );
    let later = Message {
        content: MessageContent::parse("changed").unwrap(),
        created_at: at(2),
        ..hello.clone()
    };
    assert_eq!(
        store.insert_message(acme, &later, verify).await.unwrap(),
        MessageInsert::Inserted(Inserted::Existing(hello.clone()))
    );
    assert_eq!(
        store.insert_message(acme, &hello, verify).await.unwrap(),
        logged(&hello)
    );
    let all = MessageId::MIN..=MessageId::MAX;
    let stored = store
        .list_messages(acme, conversation.id, all, &first(10), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(stored.items, [hello]);
}

/// Verified, a message needs its org's chat, live, else nothing is
/// written; known to exist, it is written without a read.
pub async fn a_verified_message_needs_the_orgs_live_chat(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let (theirs, deleted) = (chat(0), chat(1));
    store.insert_chat(globex, &theirs).await.unwrap();
    store.insert_chat(acme, &deleted).await.unwrap();
    store.delete_chat(acme, deleted.id, at(5)).await.unwrap();
    let verify = ChatCheck::Verify;
    for chat in [theirs.id, deleted.id, ChatId::new()] {
        let refused = store.insert_message(acme, &message(chat, 10), verify).await;
        assert_eq!(refused.unwrap(), MessageInsert::NoSuchChat);
        let page = store
            .list_messages(
                acme,
                chat,
                MessageId::MIN..=MessageId::MAX,
                &first(10),
                Read::Consistent,
            )
            .await
            .unwrap();
        assert_eq!(page.items, []);
    }
    let unread = message(ChatId::new(), 10);
    assert_eq!(
        store
            .insert_message(acme, &unread, ChatCheck::KnownToExist)
            .await
            .unwrap(),
        logged(&unread)
    );
}

/// A chat's messages, oldest (id) first, page by page; a range of ids
/// reads only its messages (both ends included); never another chat's.
pub async fn messages_are_listed_oldest_first_within_a_range(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let (conversation, other) = (chat(0), chat(1));
    store.insert_chat(acme, &conversation).await.unwrap();
    store.insert_chat(acme, &other).await.unwrap();
    let messages: Vec<Message> = (10..15).map(|n| message(conversation.id, n)).collect();
    for message in messages.iter().rev() {
        store
            .insert_message(acme, message, ChatCheck::Verify)
            .await
            .unwrap();
    }
    let elsewhere = message(other.id, 12);
    store
        .insert_message(acme, &elsewhere, ChatCheck::Verify)
        .await
        .unwrap();

    let list = |ids: std::ops::RangeInclusive<MessageId>| async move {
        every_page(2, |page| {
            let ids = ids.clone();
            async move {
                store
                    .list_messages(acme, conversation.id, ids, &page, Read::Eventual)
                    .await
            }
        })
        .await
    };
    assert_eq!(list(MessageId::MIN..=MessageId::MAX).await, messages);
    assert_eq!(list(messages[1].id..=messages[3].id).await, messages[1..4]);
    let from_its_time = MessageId::first_at(at(11))..=MessageId::last_at(at(13));
    assert_eq!(list(from_its_time).await, messages[1..4]);
}

/// Chats and messages keep the key that logged them, and a key's messages
/// logged within a time range are deleted, nobody else's: not another
/// key's, not those logged outside the range, not another chat's or org's.
pub async fn a_keys_messages_in_a_range_are_deleted(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let (acme, other_org) = (OrgId::new(), OrgId::new());
    let (leaked, kept) = (ApiKeyId::new(), ApiKeyId::new());
    let by = |key: ApiKeyId, message: Message| Message {
        key_id: Some(key),
        ..message
    };
    let conversation = Chat {
        key_id: Some(leaked),
        ..chat(0)
    };
    let neighbour = chat(1);
    for (org, chat) in [
        (acme, &conversation),
        (acme, &neighbour),
        (other_org, &conversation),
    ] {
        store.insert_chat(org, chat).await.unwrap();
    }
    assert_eq!(
        store
            .chat(acme, conversation.id)
            .await
            .unwrap()
            .unwrap()
            .key_id,
        Some(leaked)
    );
    let mine: Vec<Message> = (10..13)
        .map(|n| by(leaked, message(conversation.id, n)))
        .collect();
    let survivors = [
        by(kept, message(conversation.id, 11)),
        message(conversation.id, 12),
        by(leaked, message(conversation.id, 20)),
        by(leaked, message(conversation.id, 9)),
    ];
    for message in mine.iter().chain(&survivors) {
        store
            .insert_message(acme, message, ChatCheck::Verify)
            .await
            .unwrap();
    }
    let in_neighbour = by(leaked, message(neighbour.id, 11));
    store
        .insert_message(acme, &in_neighbour, ChatCheck::Verify)
        .await
        .unwrap();
    store
        .insert_message(other_org, &mine[0], ChatCheck::Verify)
        .await
        .unwrap();

    let range = at(10)..at(20);
    let deleted = store
        .delete_key_messages(acme, conversation.id, leaked, range.clone())
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    let messages_of = |org, chat| async move {
        store
            .list_messages(
                org,
                chat,
                MessageId::MIN..=MessageId::MAX,
                &PageRequest::default(),
                Read::Consistent,
            )
            .await
            .unwrap()
            .items
    };
    let left = messages_of(acme, conversation.id).await;
    let mut expected = survivors.to_vec();
    expected.sort_by_key(|m| m.id);
    assert_eq!(left, expected, "the key is kept on what remains");
    let again = store
        .delete_key_messages(acme, conversation.id, leaked, range.clone())
        .await
        .unwrap();
    assert_eq!(again, 0, "deleting again finds nothing");
    for (org, chat) in [(acme, neighbour.id), (other_org, conversation.id)] {
        let untouched = messages_of(org, chat).await;
        assert_eq!(untouched.len(), 1, "another chat or org is left alone");
    }
}

/// Activity pages count a chat's messages newest first, `limit` at a
/// time: each says when its newest was logged and where the next page
/// goes on, until a page reaches the chat's first message.
pub async fn activity_pages_walk_newest_first(
    store: &(impl ChatStore + MessageStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let conversation = chat(0);
    store.insert_chat(acme, &conversation).await.unwrap();
    let empty = store
        .activity_page(acme, conversation.id, None, 2)
        .await
        .unwrap();
    assert_eq!(
        (empty.count, empty.newest_at, empty.more_after),
        (0, None, None)
    );
    let messages: Vec<Message> = (10..15).map(|n| message(conversation.id, n)).collect();
    for message in &messages {
        store
            .insert_message(acme, message, ChatCheck::Verify)
            .await
            .unwrap();
    }
    let page = |after| store.activity_page(acme, conversation.id, after, 2);
    let newest = page(None).await.unwrap();
    assert_eq!(
        (newest.count, newest.newest_at, newest.more_after),
        (2, Some(at(14)), Some(messages[3].id))
    );
    let middle = page(newest.more_after).await.unwrap();
    assert_eq!(
        (middle.count, middle.newest_at, middle.more_after),
        (2, Some(at(12)), Some(messages[1].id))
    );
    let oldest = page(middle.more_after).await.unwrap();
    assert_eq!(
        (oldest.count, oldest.newest_at, oldest.more_after),
        (1, Some(at(10)), None)
    );
}

/// A delete leaves a sweep ticket due [`CHAT_SWEEP_DELAY`] later; swept,
/// the chat loses what was written into it since (a container that still
/// knew it), and the ticket goes. A ticket of a chat that is not deleted
/// deletes nothing.
pub async fn a_deleted_chat_is_swept_once_due(
    store: &(impl ChatStore + MessageStore + DeletedChatStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let (gone, live) = (chat(0), chat(1));
    store.insert_chat(acme, &gone).await.unwrap();
    store.insert_chat(acme, &live).await.unwrap();
    store.delete_chat(acme, gone.id, at(10)).await.unwrap();
    let due = at(10) + CHAT_SWEEP_DELAY;
    assert_eq!(
        store
            .due_chat_sweeps(due - Duration::seconds(1), 10)
            .await
            .unwrap(),
        []
    );
    let ticket = ChatSweep {
        org: acme,
        chat: gone.id,
    };
    assert_eq!(store.due_chat_sweeps(due, 10).await.unwrap(), [ticket]);

    let late = message(gone.id, 20);
    store
        .insert_message(acme, &late, ChatCheck::KnownToExist)
        .await
        .unwrap();
    assert_eq!(store.sweep_deleted_chat(ticket).await.unwrap(), 1);
    assert_eq!(store.due_chat_sweeps(due, 10).await.unwrap(), []);
    let all = MessageId::MIN..=MessageId::MAX;
    let left = store
        .list_messages(acme, gone.id, all.clone(), &first(10), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(left.items, []);

    let hello = message(live.id, 20);
    store
        .insert_message(acme, &hello, ChatCheck::Verify)
        .await
        .unwrap();
    let not_deleted = ChatSweep {
        org: acme,
        chat: live.id,
    };
    assert_eq!(store.sweep_deleted_chat(not_deleted).await.unwrap(), 0);
    let kept = store
        .list_messages(acme, live.id, all, &first(10), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(kept.items, [hello]);
}

/// Tickets come due oldest first, at most `limit`, every org's; deleting
/// a chat again keeps its first ticket's time.
pub async fn sweeps_come_due_in_order_and_keep_their_first_time(
    store: &(impl ChatStore + DeletedChatStore),
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let mut tickets = Vec::new();
    for (n, org) in [acme, globex, acme].into_iter().enumerate() {
        let gone = chat(n as i64);
        store.insert_chat(org, &gone).await.unwrap();
        store
            .delete_chat(org, gone.id, at(10 * n as i64))
            .await
            .unwrap();
        tickets.push(ChatSweep { org, chat: gone.id });
    }
    store
        .delete_chat(acme, tickets[0].chat, at(100))
        .await
        .unwrap();
    let due = |seconds| store.due_chat_sweeps(at(seconds) + CHAT_SWEEP_DELAY, 10);
    assert_eq!(due(0).await.unwrap(), tickets[..1]);
    assert_eq!(due(20).await.unwrap(), tickets);
    let oldest_two = store
        .due_chat_sweeps(at(100) + CHAT_SWEEP_DELAY, 2)
        .await
        .unwrap();
    assert_eq!(oldest_two, tickets[..2]);
}
