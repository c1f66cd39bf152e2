// What the page has seen, for people and tests (window.stemcastStats).
export const stats = {
  transport: "loading",    // then "msgpack", or "json" where msgpack could not load
  chunks: 0,              // stemChunk frames received
  chunkBytes: 0,
  chunksBeforeReady: 0,   // of the latest request, before its stemsReady
  readyAfterChunks: 0,    // stemsReady messages whose audio had all been streamed
  playsWhileStreaming: 0, // Play pressed (or resumed) before the stems were complete
  handovers: 0,           // playback carried on, sample-exactly, into audio that came later
  waits: 0,               // playback caught up with the separation and waited for it
  fetchedStems: 0,        // stems fetched as WAV over HTTP for playback
  analyses: 0,            // trackAnalysis messages
  chunksAtCancel: null,   // stemChunk frames received when the server confirmed a cancel
};
window.stemcastStats = stats;

