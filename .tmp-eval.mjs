import { initBackend } from './dist/core/backend.js';
import { loadCheckpoint } from './dist/core/checkpoint/Checkpoint.js';
import { Transformer } from './dist/core/model/Transformer.js';
import { Tokenizer } from './dist/core/data/tokenizer/Tokenizer.js';
import { buildRunData } from './dist/core/data/pipeline.js';
import { validateConfig } from './dist/core/config/loadConfig.js';
import { evaluateBatches } from './dist/core/evaluate.js';
await initBackend('wasm');
const cfg = validateConfig({});
for (const dir of process.argv.slice(2)) {
  const c = loadCheckpoint(dir);
  const tok = new Tokenizer(c.tokenizerJson);
  const m = Transformer.fromWeights(c.state.model, c.weights);
  const data = buildRunData(cfg, tok, 128);
  const s = evaluateBatches(m, data.heldout, tok);
  const o = evaluateBatches(m, data.heldoutBySource, tok);
  console.log(dir, 'general', s.loss.toFixed(4), s.bpb.toFixed(4), JSON.stringify(Object.fromEntries(Object.entries({...s.perSource, ...o.perSource}).map(([k,v])=>[k, +v.loss.toFixed(3)]))));
}
