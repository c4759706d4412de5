# Workload for the shipped C trace: CPython's own malloc/free traffic (PYTHONMALLOC=malloc
# routes every object through libc) building a dict of lists and strings, a JSON round trip
# and a regex pass.
import json
import re

d = {f"key{i}": [str(j) * (j % 7 + 1) for j in range(i % 13)] for i in range(6000)}
s = json.dumps(d)
back = json.loads(s)
words = re.findall(r"key\d+", s)
print(len(s), len(back), len(words))
