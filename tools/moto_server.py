"""Starts moto's server (same flags as `moto_server`) with local DynamoDB
transactions that cost O(items touched) and roll back in place.

Why: moto 5.2.5's `DynamoDBBackend.transact_write_items` deep-copies every
table a transaction touches before running it, so each transaction costs
O(table size) while holding the interpreter lock, and on cancellation it
puts the copies back by *replacing* the table objects. Open stream shard
iterators keep pointing at the old table's shard, so the local stream poller
never sees another change, and the stream records the cancelled transaction
wrote stay on that shard and are delivered (an INSERT for an item that was
never stored).

What changes here (nothing else does; answers and errors are moto's own):
- moto's transaction code runs unchanged, but its whole-table backup is made
  the table itself (no copy; its "restore" then assigns each table to
  itself). Around it, we back up only the items the transaction's writes
  touch and, if it raises for any reason (cancellation, a validation error
  such as MultipleTransactionsException), put exactly those back in place on
  the same table and drop the stream records it appended. GSIs and LSIs are
  computed from the items at query time and moto never expires TTL items,
  so the items and the stream are all the state there is to restore.
- Every DynamoDB and DynamoDB Streams request runs under one lock. moto's
  server is threaded and takes no lock, so without it a rollback could undo
  or drop another request's concurrent write or stream record, and a reader
  could see records that are then rolled back. (It also makes moto's stream
  sequence numbers, computed as "current length" before the append, safe
  under concurrent writes.) Requests run under the interpreter lock anyway,
  so this costs little throughput.

Also, a `Query` asked for `ReturnConsumedCapacity` reports what DynamoDB
would bill it, where moto answers 1.0 whatever it read: the items the
query read (before its filter and projection, which do not reduce the bill),
sized as DynamoDB sizes items, summed and rounded up to 4 KB, a unit per
4 KB consistent and half of one eventually consistent. The dashboard's chat
listing spends a read budget by these figures, as it does on AWS.

Drop this launcher (and go back to `.venv/bin/moto_server` in
scripts/moto.sh) once moto's transact_write_items stops deep-copying tables
and its Query reports the capacity it consumed.
It refuses to run on any other moto version than the one it was written for.
"""

import base64
import copy
import functools
import math
import sys
import threading
from importlib.metadata import version

WRITTEN_FOR = "5.2.5"

if version("moto") != WRITTEN_FOR:
    sys.exit(
        f"tools/moto_server.py patches moto {WRITTEN_FOR}'s DynamoDB transactions, "
        f"but moto {version('moto')} is installed: check whether moto still deep-copies "
        "tables in transact_write_items, then update or drop the patch."
    )

import moto.dynamodb.models as dynamodb_models  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler  # noqa: E402
from moto.server import main  # noqa: E402


class _TablesByReference:
    """Stands in for the `copy` module inside moto.dynamodb.models, whose only
    deep copies are the transaction's table backup (made a no-op here) and
    update_item's copy of the old item (unchanged)."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_location(backend, op_type, op):
    """The table and stored (hash, range) key an action writes, found the
    way moto finds it; None when moto would fail the action before writing."""
    try:
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {name: attrs[name] for name in table.table_key_attrs}
        else:
            key = op["Key"]
        return table, backend.get_keys_value(table, key)
    except Exception:
        return None


def _transact_write_items(original):
    @functools.wraps(original)
    def transact_write_items(self, transact_items):
        # (table, hash, range) -> a copy of the item as it was, or None.
        before = {}
        # One entry per table with a stream: (shard, its record list, length).
        streams = {}
        for action in transact_items:
            op_type, op = next(iter(action.items()), (None, None))
            if op_type not in ("Put", "Update", "Delete"):
                continue
            location = _item_location(self, op_type, op)
            if location is None:
                continue
            table, (hash_key, range_key) = location
            if (table, hash_key, range_key) not in before:
                before[(table, hash_key, range_key)] = copy.deepcopy(
                    table.get_item(hash_key, range_key)
                )
            shard = table.stream_shard
            if shard is not None and table not in streams:
                streams[table] = (shard, shard.items, len(shard.items))
        try:
            return original(self, transact_items)
        except BaseException:
            for (table, hash_key, range_key), item in before.items():
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            for shard, records, length in streams.values():
                # The same list unless a Lambda event source mapping (unused
                # locally) consumed the records; those cannot be taken back.
                if shard.items is records:
                    del records[length:]
            raise

    return transact_write_items


def _value_size(value):
    """A DynamoType's size as DynamoDB counts it (as shared/src/store/billing.rs)."""
    kind, raw = value.type, value.value
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return math.ceil(sum(c.isdigit() for c in raw) / 2) + 1
    if kind == "B":
        return len(base64.b64decode(raw)) if isinstance(raw, str) else len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    if kind == "SS":
        return sum(len(v.encode()) for v in raw)
    if kind == "NS":
        return sum(math.ceil(sum(c.isdigit() for c in v) / 2) + 1 for v in raw)
    if kind == "BS":
        return sum(len(base64.b64decode(v)) if isinstance(v, str) else len(v) for v in raw)
    return 0


def _item_size(item):
    return sum(len(name.encode()) + _value_size(value) for name, value in item.attrs.items())


# The bytes the last Query read (requests run one at a time, see _serialised).
_query_read = {"bytes": None}


def _sized_query(original):
    """Table.query, run without its filter and projection so the items it read
    can be sized, which are then applied as moto applies them."""

    @functools.wraps(original)
    def query(
        self,
        hash_key,
        range_comparison,
        range_objs,
        limit,
        exclusive_start_key,
        scan_index_forward,
        projection_expressions,
        index_name=None,
        consistent_read=False,
        filter_expression=None,
        **kwargs,
    ):
        items, scanned_count, last_evaluated_key = original(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            None,
            index_name,
            consistent_read,
            None,
            **kwargs,
        )
        _query_read["bytes"] = sum(_item_size(item) for item in items)
        if filter_expression is not None:
            items = [item for item in items if filter_expression.expr(item)]
        if projection_expressions:
            items = [item.project(projection_expressions) for item in items]
        return items, scanned_count, last_evaluated_key

    return query


def _billed_query(original):
    """DynamoHandler.query, its ConsumedCapacity (when asked for) set to what
    DynamoDB bills for the bytes read."""

    @functools.wraps(original)
    def query(self):
        _query_read["bytes"] = None
        result = original(self)
        consumed = result.result.get("ConsumedCapacity")
        read = _query_read["bytes"]
        if consumed is not None and read is not None:
            blocks = max(1, math.ceil(read / 4096))
            units = blocks * (1.0 if self.body.get("ConsistentRead") else 0.5)
            consumed["CapacityUnits"] = units
            if "Table" in consumed:
                consumed["Table"] = {"CapacityUnits": units}
        return result

    return query


def _serialised(call_action, lock):
    @functools.wraps(call_action)
    def locked(self):
        with lock:
            return call_action(self)

    return locked


def patch():
    dynamodb_models.copy = _TablesByReference
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _transact_write_items(backend.transact_write_items)
    Table.query = _sized_query(Table.query)
    DynamoHandler.query = _billed_query(DynamoHandler.query)
    lock = threading.RLock()
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        handler.call_action = _serialised(handler.call_action, lock)


if __name__ == "__main__":
    patch()
    # moto parses an UpdateExpression recursively, one level per clause: a
    # day's counters with every latency bucket (about 220 ADD clauses, well
    # within DynamoDB's 4 KB expression limit) overflow Python's default
    # recursion limit of 1,000 (a RecursionError inside a transaction).
    sys.setrecursionlimit(20_000)
    main(sys.argv[1:])
