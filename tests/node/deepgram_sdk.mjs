// Deepgram's own JavaScript SDK (@deepgram/sdk) against a Souffleur server:
// pre-recorded transcribeFile, then a live stream over listen.v1.connect.
// Usage: node deepgram_sdk.mjs HOST:PORT RECORDING.flac PCM16K.raw API_KEY
// Prints one JSON line: {"prerecorded": <response>, "live": [<messages>]}.
import { readFileSync } from "node:fs";
import { DeepgramClient } from "@deepgram/sdk";

const [host, recording, pcm, apiKey] = process.argv.slice(2);
const dg = new DeepgramClient({
  apiKey,
  environment: { base: `http://${host}`, production: `ws://${host}`, agent: `ws://${host}`,
                 agentRest: `http://${host}` },
});

const prerecorded = await dg.listen.v1.media.transcribeFile(readFileSync(recording),
  { model: "nova-3", smart_format: true, utterances: true });

const socket = await dg.listen.v1.connect({
  model: "nova-3", encoding: "linear16", sample_rate: 16000, channels: 1, interim_results: true,
  Authorization: `Token ${apiKey}`, reconnectAttempts: 0,
});
const live = [];
const closed = new Promise((resolve) => socket.on("close", resolve));
socket.on("message", (m) => live.push(m));
socket.on("error", (e) => live.push({ type: "SocketError", message: String(e?.message ?? e) }));
socket.connect();
await socket.waitForOpen();
const audio = readFileSync(pcm);
const frame = 16000 * 2 / 10; // 100 ms of 16 kHz linear16
for (let i = 0; i < audio.length; i += frame) {
  socket.sendMedia(audio.subarray(i, i + frame));
  await new Promise((r) => setTimeout(r, 5)); // faster than real time, as prerecorded clients send
}
socket.sendCloseStream({ type: "CloseStream" });
await closed;
console.log(JSON.stringify({ prerecorded, live }));
