"""V8's own census of a heap snapshot: the judge for every count v8scan reports."""

from __future__ import annotations

import collections
import json

import numpy as np


class Snapshot:
    """A .heapsnapshot file, read once."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path) as f:
            doc = json.load(f)
        meta = doc["snapshot"]["meta"]
        self.strings: list[str] = doc["strings"]
        fields = meta["node_fields"]
        self.nodes = np.asarray(doc["nodes"], dtype=np.int64).reshape(-1, len(fields))
        self.node_kinds: list[str] = meta["node_types"][fields.index("type")]
        self._type, self._name = fields.index("type"), fields.index("name")
        self._size, self._edge_count = fields.index("self_size"), fields.index("edge_count")
        edge_fields = meta["edge_fields"]
        self.edges = np.asarray(doc["edges"], dtype=np.int64).reshape(-1, len(edge_fields))
        self.edge_kinds: list[str] = meta["edge_types"][edge_fields.index("type")]
        self._edge_type = edge_fields.index("type")
        self._edge_name = edge_fields.index("name_or_index")
        self._edge_to = edge_fields.index("to_node")
        # Where each node's edges start (they follow those of the node before it).
        self._first_edge = np.concatenate(([0], np.cumsum(self.nodes[:, self._edge_count])))

    def census(self) -> dict[tuple[str, str], tuple[int, int]]:
        """{(kind, name): (count, self_size)} over every node."""
        counts: dict = collections.defaultdict(lambda: [0, 0])
        for t, n, s in self.nodes[:, [self._type, self._name, self._size]].tolist():
            entry = counts[(self.node_kinds[t], self.strings[n])]
            entry[0] += 1
            entry[1] += s
        return {key: (c, size) for key, (c, size) in counts.items()}

    def root_groups(self) -> dict[str, int]:
        """{name: number of edges} of the children of "(GC roots)" (node 1, as V8 writes
        it): the groups of roots."""
        first_edge = self._first_edge
        to_node = self.edges[first_edge[1]:first_edge[2], self._edge_to] // self.nodes.shape[1]
        return {self.strings[self.nodes[g, self._name]]: int(self.nodes[g, self._edge_count])
                for g in to_node.tolist()}

    def shape_census(self, name: str) -> collections.Counter:
        """How many `object` nodes called `name` have each set of own property names
        (sorted; the snapshot's `property` edges, without __proto__)."""
        first_edge = self._first_edge
        object_kind = self.node_kinds.index("object")
        property_kind = self.edge_kinds.index("property")
        wanted = np.flatnonzero((self.nodes[:, self._type] == object_kind)
                                & (self.nodes[:, self._name] == self.strings.index(name)))
        shapes: collections.Counter = collections.Counter()
        for i in wanted.tolist():
            edges = self.edges[first_edge[i]:first_edge[i + 1]]
            names = {self.strings[e[self._edge_name]] for e in edges.tolist()
                     if e[self._edge_type] == property_kind}
            names.discard("__proto__")
            shapes[tuple(sorted(names))] += 1
        return shapes

    def retainer_edges(self, name: str) -> collections.Counter:
        """How many edges into `object` nodes called `name` there are, by (the holder's
        kind and name, the edge's type, the edge's name; an element's or hidden edge's
        index as '#')."""
        first_edge = self._first_edge
        fields = self.nodes.shape[1]
        object_kind = self.node_kinds.index("object")
        wanted = (self.nodes[:, self._type] == object_kind) \
            & (self.nodes[:, self._name] == self.strings.index(name))
        targets = self.edges[:, self._edge_to] // fields
        hits = np.flatnonzero(wanted[targets])
        holders = np.searchsorted(first_edge, hits, side="right") - 1
        found: collections.Counter = collections.Counter()
        for edge, holder in zip(hits.tolist(), holders.tolist()):
            kind = self.edge_kinds[self.edges[edge, self._edge_type]]
            label = "#" if kind in ("element", "hidden") else \
                self.strings[self.edges[edge, self._edge_name]]
            found[(self.node_kinds[self.nodes[holder, self._type]],
                   self.strings[self.nodes[holder, self._name]], kind, label)] += 1
        return found
