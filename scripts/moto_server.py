"""moto's server, with DynamoDB's item writes made atomic as they are on AWS.

moto serves requests on threads and checks a write's condition, then
writes, without a lock: two concurrent conditional writes to one item can
both pass their check. On AWS a conditional write is atomic, and the
sign-in throttle's reservations (a conditional increment) rely on that, so
the tests would otherwise race where production cannot. One lock around
moto's DynamoDB writes restores it; reads stay concurrent.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = threading.RLock()


def _atomic(write):
    @functools.wraps(write)
    def locked(*args, **kwargs):
        with _WRITES:
            return write(*args, **kwargs)

    return locked


# BatchWriteItem goes through put_item and delete_item item by item.
for _name in ("put_item", "update_item", "delete_item", "transact_write_items"):
    setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.exit(main())
