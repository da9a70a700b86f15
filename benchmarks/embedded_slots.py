import sys
import time

from langchain_openai import ChatOpenAI

from agents import embedded

url = embedded.serve(parallel=int(sys.argv[1]))
m = ChatOpenAI(base_url=url, api_key="x", model="m", max_tokens=100, temperature=0.9)
msgs = [("user", "Write a long story about a cat. " * 30)]
m.invoke(msgs)
for n in (1, int(sys.argv[1])):
    t = time.time()
    out = m.batch([msgs] * n, config={"max_concurrency": n})
    dt = time.time() - t
    toks = sum(o.usage_metadata["output_tokens"] for o in out)
    print(n, "calls", round(dt, 2), "s", toks, "tokens", round(toks / dt, 1), "tok/s")
