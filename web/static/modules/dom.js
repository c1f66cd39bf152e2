// The page's small shared pieces: element lookup, table cells, names and order of stems, time and key formatting.

export const $ = (id) => document.getElementById(id);

export const STEM_COLORS = {
  drums: "#ff9f5a", bass: "#b48cff", other: "#4fd1c5", vocals: "#ff7eb6",
  guitar: "#ffd75e", piano: "#7ec8ff", accompaniment: "#8fd694", nodrums: "#8fb8ff",
};
export const STEM_LABELS = { nodrums: "no drums" };  // shown names; the data keeps the server's
export const stemLabel = (name) => STEM_LABELS[name] || name;
export const STEM_ORDER = ["drums", "bass", "other", "vocals", "guitar", "piano", "accompaniment", "nodrums"];
export const FOUR = ["drums", "bass", "other", "vocals"];

// Stem variants the page offers, in the order shown; `needs`: the model's stems it takes.
export const VARIANTS = [
  { value: "6stems", needs: ["drums", "bass", "other", "vocals", "guitar", "piano"],
    label: "6 stems: drums, bass, other, vocals, guitar, piano",
    stems: ["drums", "bass", "other", "vocals", "guitar", "piano"] },
  { value: "4stems", needs: FOUR, label: "4 stems: drums, bass, other, vocals", stems: FOUR },
  { value: "2stems", needs: ["vocals"], label: "2 stems: vocals + accompaniment",
    stems: ["vocals", "accompaniment"] },
  { value: "2stems-drums", needs: ["drums"], label: "2 stems: drums + no drums",
    stems: ["drums", "nodrums"] },
];

export const KEYS = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
export function keyName(track) {
  if (track.keyName) return track.keyName;
  const { key, mode } = track;
  if (key === null || key === undefined || key === "") return "";
  const name = KEYS[Number(key)] ?? String(key);
  return `${name} ${mode === "0" ? "minor" : "major"}`;
}
export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
export function fineClock(seconds) {
  const tenths = Math.round(Math.max(0, seconds || 0) * 10);
  return `${clock(Math.floor(tenths / 10))}.${tenths % 10}`;
}
export function ordinal(n) {
  const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n}${tail}`;
}
export function order(name) {
  const index = STEM_ORDER.indexOf(name);
  return index === -1 ? STEM_ORDER.length : index;
}
export function byStemOrder(names) {
  return [...names].sort((a, b) => order(a) - order(b));
}

export function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

