// Run TF.js graph models on raw inputs (for scripts/convert_human_models.py): node run_tfjs_models.js JOB.json
// JOB.json: {"models": [{"json": path, "input": name, "dtype": "float32"|"int32", "shape": [...],
//            "inputs": [raw files], "outputs": [names], "out_prefix": path}]}
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function load(jsonPath) {
  const model = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const dir = path.dirname(jsonPath);
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData }));
}

(async () => {
  await tf.setBackend('cpu');
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const m of job.models) {
    const model = await load(m.json);
    for (let i = 0; i < m.inputs.length; i++) {
      const raw = fs.readFileSync(m.inputs[i]);
      const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
      const data = m.dtype === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
      const x = tf.tensor(data, m.shape, m.dtype);
      const feed = {}; feed[m.input] = x;
      let out = model.execute(feed, m.outputs);
      if (!Array.isArray(out)) out = [out];
      for (let k = 0; k < out.length; k++) {
        const values = await out[k].data();
        fs.writeFileSync(`${m.out_prefix}_${i}_${k}.bin`, Buffer.from(new Float32Array(values).buffer));
      }
      tf.dispose([x, ...out]);
    }
    console.log('ran', m.json, m.inputs.length);
  }
})();
