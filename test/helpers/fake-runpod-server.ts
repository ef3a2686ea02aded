/**
 * The fake RunPod API on its own, for a run by hand:
 *   node --import tsx test/helpers/fake-runpod-server.ts [apiKey]
 * prints the two variables to export, then serves until Ctrl-C (when it prints the calls it
 * answered, by endpoint, and stops every pod it made).
 */
import { startFakeRunpod } from "./fake-runpod.js";

const apiKey = process.argv[2] ?? `rpa_fake_${Math.random().toString(36).slice(2)}`;
const fake = await startFakeRunpod({ apiKey });
console.log(`export RUNPOD_API_URL=${fake.url}`);
console.log(`export RUNPOD_API_KEY=${apiKey}`);
const report = setInterval(() => {
  for (const pod of fake.pods.values())
    console.log(`pod ${pod.id} ${pod.name} ${pod.status} ${pod.gpu.id} $${pod.price}/h`);
}, 10_000);
const stop = async () => {
  clearInterval(report);
  console.log(`calls by endpoint: ${JSON.stringify(fake.counts())}`);
  for (const pod of fake.pods.values())
    console.log(`pod ${pod.id} ${pod.name}: ${pod.status}; actions ${JSON.stringify(pod.actions)}`);
  await fake.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
