"""Listing workload shared by testnet/demo and testnet/measure: creating, updating and retracting
listings over JSON-RPC, and waiting until nodes hold given objects."""

from __future__ import annotations

import random
import threading
import time

from souknet import Node, RPCError, TestnetError

CATEGORIES = ["bikes", "books", "electronics", "furniture", "clothing", "garden", "music", "toys"]
THINGS = ["bicycle", "desk lamp", "record player", "winter coat", "road atlas", "bookshelf", "guitar",
          "rice cooker", "tent", "chess set", "kettle", "camera", "armchair", "skateboard", "typewriter"]
ADJECTIVES = ["used", "vintage", "barely used", "sturdy", "refurbished", "small", "large", "classic"]
CITIES = ["Berlin", "Lyon", "Porto", "Ghent", "Bologna", "Graz", "Malmo", "Tartu"]


def listing_fields(rng: random.Random, k: int, author: str) -> dict:
    thing = rng.choice(THINGS)
    adj = rng.choice(ADJECTIVES)
    return {
        "title": f"{adj.capitalize()} {thing} #{k}",
        "price": f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}",
        "currency": "EUR",
        "category": rng.choice(CATEGORIES),
        "description": (f"{adj.capitalize()} {thing}, works fine, pick-up preferred. Listed by {author} "
                        f"for the Souk testnet (item {k}). " + rng.choice(
                            ["Small scratches.", "Comes with the original box.", "Cash or escrow.",
                             "Can deliver within the city."])),
        "location": rng.choice(CITIES),
        "tags": [thing.split()[-1], adj.split()[-1]],
    }


def envelope_bytes(result: dict) -> int:
    return len(result["envelope"]) // 2


class Op:
    """One object created by the workload (a listing version or a retraction)."""

    __slots__ = ("kind", "author", "listing_id", "object_id", "size", "version", "t_sent", "t_done", "error")

    def __init__(self, kind: str, author: Node):
        self.kind = kind
        self.author = author
        self.listing_id = None
        self.object_id = None
        self.size = 0
        self.version = 1
        self.t_sent = 0.0
        self.t_done = 0.0
        self.error = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "author": self.author.name, "listing_id": self.listing_id,
                "object_id": self.object_id, "size": self.size, "version": self.version,
                "t_sent": self.t_sent, "t_done": self.t_done, "error": self.error}


def create(author: Node, rng: random.Random, k: int) -> Op:
    op = Op("create", author)
    op.t_sent = time.time()
    res = author.rpc("listing.create", listing_fields(rng, k, author.name))
    op.t_done = time.time()
    op.listing_id, op.object_id, op.size, op.version = (res["listing_id"], res["object_id"], envelope_bytes(res),
                                                        res.get("version", 1))
    return op


def update(author: Node, listing_id: str, rng: random.Random) -> Op:
    op = Op("update", author)
    op.t_sent = time.time()
    res = author.rpc("listing.update", {"listing_id": listing_id, "price": f"{rng.randint(1, 300)}.00",
                                        "currency": "EUR"})
    op.t_done = time.time()
    op.listing_id, op.object_id, op.size, op.version = (res["listing_id"], res["object_id"], envelope_bytes(res),
                                                        res.get("version", 2))
    return op


def retract(author: Node, listing_id: str) -> Op:
    op = Op("retract", author)
    op.t_sent = time.time()
    res = author.rpc("listing.retract", {"listing_id": listing_id})
    op.t_done = time.time()
    op.listing_id, op.object_id, op.size = res["listing_id"], res["object_id"], envelope_bytes(res)
    return op


def final_objects(ops: list[Op]) -> tuple[dict[str, Op], int, int]:
    """The object every node should end with per listing (latest version, or the retraction),
    and the expected active and retracted listing counts."""
    final: dict[str, Op] = {}
    for op in sorted((o for o in ops if o.object_id), key=lambda o: o.t_done):
        cur = final.get(op.listing_id)
        if cur is not None and cur.kind == "retract":
            continue
        if op.kind == "retract" or cur is None or op.version >= cur.version:
            final[op.listing_id] = op
    retracted = sum(1 for o in final.values() if o.kind == "retract")
    return final, len(final) - retracted, retracted


def run_schedule(authors: list[Node], creates: int, updates: int, retractions: int, rate: float,
                 rng: random.Random, start_index: int = 0, min_age: float = 2.0,
                 progress=None) -> list[Op]:
    """Issues `creates` listing creations round-robin over `authors` at a steady `rate` (operations
    per second, all kinds together), with `updates` updates and `retractions` retractions spread
    over the second half. Each update or retraction targets a listing of the same author created at
    least `min_age` seconds earlier (so the measured objects are not raced by their successors).
    Calls run on worker threads so one slow call does not shift the schedule."""
    total = creates + updates + retractions
    kinds = ["create"] * creates
    extra = ["update"] * updates + ["retract"] * retractions
    rng.shuffle(extra)
    # Spread the updates and retractions evenly over the last 60 % of the run.
    first = int(total * 0.4)
    slots = sorted(rng.sample(range(first, total), len(extra))) if extra else []
    for pos, kind in zip(slots, extra):
        kinds.insert(pos, kind)
    kinds = kinds[:total]
    lock = threading.Lock()
    ops: list[Op] = []
    done_creates: dict[str, list[Op]] = {a.name: [] for a in authors}
    touched: set[str] = set()
    errors: list[str] = []
    threads: list[threading.Thread] = []
    sem = threading.Semaphore(16)

    def worker(fn, *a):
        try:
            op = fn(*a)
            with lock:
                ops.append(op)
                if op.kind == "create":
                    done_creates[op.author.name].append(op)
        except (RPCError, OSError, KeyError) as e:
            with lock:
                errors.append(str(e))
        finally:
            sem.release()

    t0 = time.time()
    k = start_index
    for slot, kind in enumerate(kinds):
        due = t0 + slot / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        author = authors[slot % len(authors)]
        job = None
        if kind == "create":
            job = (create, author, random.Random(rng.random()), k)
            k += 1
        else:
            with lock:
                cutoff = time.time() - min_age
                candidates = [o for a in [author] + authors for o in done_creates[a.name]
                              if o.t_done <= cutoff and o.listing_id not in touched]
                target = candidates[0] if candidates else None
                if target is not None:
                    touched.add(target.listing_id)
            if target is None:
                job = (create, author, random.Random(rng.random()), k)
                k += 1
            elif kind == "update":
                job = (update, target.author, target.listing_id, random.Random(rng.random()))
            else:
                job = (retract, target.author, target.listing_id)
        sem.acquire()
        th = threading.Thread(target=worker, args=job, daemon=True)
        th.start()
        threads.append(th)
        if progress and slot % 50 == 49:
            progress(slot + 1, total)
    for th in threads:
        th.join(timeout=60)
    if errors:
        raise TestnetError(f"{len(errors)} workload calls failed; first: {errors[0]}")
    return ops


def wait_for_objects(nodes: list[Node], object_ids: list[str], timeout: float, poll: float = 0.25,
                     progress=None) -> dict[str, dict[str, int]]:
    """Polls node.arrivals until every node holds every id (or the deadline passes).
    Returns {node name: {object id: arrival ms}} for what each node holds."""
    want = set(object_ids)
    have: dict[str, dict[str, int]] = {n.name: {} for n in nodes}
    pending = list(nodes)
    deadline = time.time() + timeout
    last = time.time()
    while pending and time.time() < deadline:
        still = []
        for n in pending:
            missing = [i for i in object_ids if i not in have[n.name]]
            try:
                have[n.name].update(n.arrivals(missing))
            except (RPCError, OSError):
                pass
            if not want.issubset(have[n.name]):
                still.append(n)
        pending = still
        if pending:
            if progress and time.time() - last > 5:
                last = time.time()
                progress(pending, have)
            time.sleep(poll)
    return have


def missing_report(nodes: list[Node], object_ids: list[str], have: dict[str, dict[str, int]]) -> list[str]:
    lines = []
    for n in nodes:
        lacking = [i for i in object_ids if i not in have[n.name]]
        if lacking:
            lines.append(f"{n.name} lacks {len(lacking)} of {len(object_ids)} (e.g. {lacking[0][:16]})")
    return lines
