"""The testnet's topology: which node dials which (plan_edges), and breadth-first questions about
a graph given as adjacency sets (distances, diameter, connectivity without one node)."""

from __future__ import annotations

import random
from collections import deque


def plan_edges(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """Node i dials `degree` distinct random earlier nodes (fewer when there are fewer).

    Half of each node's links go to its recent predecessors, which stretches the graph
    (diameter > 2 for N >= ~8), the rest anywhere earlier, which keeps it robust."""
    edges: list[tuple[int, int]] = []
    for i in range(1, n):
        earlier = list(range(i))
        k = min(degree, i)
        recent = earlier[-3:]
        chosen = {rng.choice(recent)}
        while len(chosen) < k:
            chosen.add(rng.choice(earlier))
        edges += [(i, j) for j in sorted(chosen)]
    return edges


def adjacency(n: int, edges) -> list[set[int]]:
    """Undirected adjacency sets of nodes 0..n-1."""
    adj = [set() for _ in range(n)]
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return adj


def bfs(adj: list[set[int]], start: int, skip: int | None = None) -> dict[int, int]:
    """Hop distance from `start` to every node it reaches (never through `skip`)."""
    dist = {start: 0}
    q = deque([start])
    while q:
        u = q.popleft()
        for v in adj[u]:
            if v != skip and v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def diameter(adj: list[set[int]]) -> int | None:
    """The longest shortest path, or None when the graph is not connected."""
    n = len(adj)
    best = 0
    for s in range(n):
        d = bfs(adj, s)
        if len(d) < n:
            return None
        best = max(best, max(d.values()))
    return best


def is_connected_without(adj: list[set[int]], removed: int) -> bool:
    """Do the other nodes stay connected when `removed` goes away?"""
    rest = [i for i in range(len(adj)) if i != removed]
    if not rest:
        return True
    return len(bfs(adj, rest[0], skip=removed)) == len(rest)
