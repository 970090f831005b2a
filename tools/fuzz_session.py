"""Signs in to the local stack and prints the session and refresh cookies
(`SESSION=...` and `REFRESH=...` lines, for `eval` in scripts/fuzz.sh).

Usage: fuzz_session.py BASE_URL ORG_SLUG EMAIL PASSWORD
"""

import http.client
import json
import sys
import urllib.parse

base, org, email, password = sys.argv[1:5]
url = urllib.parse.urlsplit(base)
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
connection.request(
    "POST",
    "/auth/login",
    body=json.dumps({"org": org, "email": email, "password": password}),
    headers={"content-type": "application/json", "x-csrf-protection": "1"},
)
response = connection.getresponse()
body = response.read().decode()
if response.status != 200:
    sys.exit(f"sign-in failed: {response.status} {body}")
cookies = {}
for header in response.headers.get_all("set-cookie") or []:
    name, _, rest = header.partition("=")
    cookies[name] = rest.split(";", 1)[0]
print(f"SESSION={cookies['__Host-chatlogger_session']}")
print(f"REFRESH={cookies['__Secure-chatlogger_refresh']}")
