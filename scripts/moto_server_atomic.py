"""moto's S3 server with atomic conditional writes, for Firn's tests.

moto checks `If-None-Match` / `If-Match` and then stores the object in two
steps, on a threaded server: two racing conditional creates of one name can
both succeed, and the later one silently replaces the earlier. Real S3 (and
MinIO, and OpenDAL's local backends) decide a conditional write atomically,
and Firn's manifest protocol relies on it. This launcher makes every object
write and delete of the server one step, by one lock, then runs moto's own
server `main()` with the given arguments.

Only the order of in-memory bookkeeping changes: request bodies are read
before the lock is taken, so uploads still overlap.

    python moto_server_atomic.py -H 127.0.0.1 -p PORT

FIRN_MOTO_SWITCH_INTERVAL (seconds, optional) sets Python's thread switch
interval; a tiny value makes any remaining race show up quickly.
"""

import os
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_OBJECT_WRITES = threading.Lock()


def _serialised(method):
    def run(self, *args, **kwargs):
        with _OBJECT_WRITES:
            return method(self, *args, **kwargs)

    run.__name__ = method.__name__
    run.__doc__ = method.__doc__
    return run


# PUT (objects, parts, copies), POST (complete multipart upload) and DELETE
# of keys: every path that checks a condition and then changes the bucket.
for _name in ("_key_response_put", "_key_response_post", "_key_response_delete"):
    setattr(S3Response, _name, _serialised(getattr(S3Response, _name)))

if os.environ.get("FIRN_MOTO_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["FIRN_MOTO_SWITCH_INTERVAL"]))

if __name__ == "__main__":
    main()
