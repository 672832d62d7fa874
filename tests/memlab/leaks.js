// memlab's own leak finder on three .heapsnapshot files (baseline, target, final):
// findLeaksBySnapshotFilePaths, with every object allocated after the baseline and still
// alive in the final snapshot traced (memlab's filters otherwise look for browser leaks:
// detached DOM, React fibers). Prints one JSON document: per leak trace memlab reports,
// its steps from the root, each {edge, edgeType, name, type, leaked}.
//   node leaks.js BASELINE TARGET FINAL
'use strict';
const {findLeaksBySnapshotFilePaths} = require('@memlab/api');
const {config} = require('@memlab/core');

// A step of a serialized trace: "3:   --leaky (property)--->  [Array](object) @123 ..."
const STEP = /^\d+:\s+(?:--(.*) \((\w+)\)--->\s+)?\[(.*)\]\((.*?)\) @\d+/;

function steps(trace) {  // a trace's steps are its keys "0: ...", "1: ...", in order
  return Object.keys(trace).filter((key) => STEP.test(key))
      .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
      .map((key) => {
        const [, edge, edgeType, name, type] = key.match(STEP);
        return {edge: edge ?? null, edgeType: edgeType ?? null, name, type,
                leaked: key.includes('$memLabTag:leaked')};
      });
}

(async () => {
  const [baseline, target, final] = process.argv.slice(2);
  config.oversizeObjectAsLeak = true;  // every new object that is still alive
  config.oversizeThreshold = 0;
  const traces = await findLeaksBySnapshotFilePaths(baseline, target, final,
                                                    {workDir: process.env.MEMLAB_WORK,
                                                     consoleMode: 'SILENT'});
  process.stdout.write(JSON.stringify({leaks: traces.map(steps)}));
})().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
