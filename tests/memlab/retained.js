// What memlab computes from a .heapsnapshot (its dominator tree and retained sizes), as
// one JSON document on stdout: per (type, name), the count, self size and the retained
// size DevTools shows for a constructor's row (the retained sizes of its nodes that no
// node of the row dominates: a depth-first walk of memlab's dominator tree counting the
// rows on the path), and the 40 nodes that retain the most.
//   node retained.js FILE.heapsnapshot
const {getFullHeapFromFile} = require('@memlab/heap-analysis');
(async () => {
  const heap = await getFullHeapFromFile(process.argv[2]);
  const key = (node) => node.type + '\t' + node.name;
  const children = new Map();
  const byIndex = new Map();
  heap.nodes.forEach(node => byIndex.set(node.nodeIndex, node));
  heap.nodes.forEach(node => {
    const d = node.dominatorNode;
    if (!d || d.id === node.id) return;  // the root
    if (!children.has(d.nodeIndex)) children.set(d.nodeIndex, []);
    children.get(d.nodeIndex).push(node.nodeIndex);
  });
  const rows = new Map();
  heap.nodes.forEach(node => {
    const row = rows.get(key(node)) || {count: 0, self: 0, retained: 0};
    row.count++; row.self += node.self_size; rows.set(key(node), row);
  });
  const onPath = new Map();  // per row: its nodes on the path to the current one
  const stack = [[0, 0]];
  const enter = (i) => {
    const node = byIndex.get(i), k = key(node), n = onPath.get(k) || 0;
    if (n === 0) rows.get(k).retained += node.retainedSize;
    onPath.set(k, n + 1);
  };
  enter(0);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const kids = children.get(top[0]) || [];
    if (top[1] === kids.length) {
      const k = key(byIndex.get(top[0]));
      onPath.set(k, onPath.get(k) - 1);
      stack.pop();
      continue;
    }
    const child = kids[top[1]++];
    enter(child);
    stack.push([child, 0]);
  }
  const out = [];
  for (const [k, row] of rows) {
    const [type, name] = k.split('\t');
    out.push({type, name, count: row.count, self: row.self, retained: row.retained});
  }
  const nodes = [];
  heap.nodes.forEach(node => {
    nodes.push([node.retainedSize, node.type, node.name, node.self_size]);
  });
  nodes.sort((a, b) => b[0] - a[0]);
  process.stdout.write(JSON.stringify({rows: out, top: nodes.slice(0, 40)}));
})();
