// Channels (docs/protocol.md §1): the first segment of an event type, pluralised.

/** The channel name that means every channel. */
export const ALL = "all";

const PLURAL: Readonly<Record<string, string>> = {
  alert: "alerts",
  case: "cases",
  detection: "detections",
  investigation: "investigations",
  ueba: "ueba",
  honeytoken: "honeytokens",
  playbook: "playbooks",
  system: "systems",
};

const CHANNEL_RE = /^[a-z0-9_-]{1,64}$/;
const TYPE_RE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** `true` for a valid channel name (1–64 of `a-z 0-9 _ -`; `all` included). */
export function isChannel(name: string): boolean {
  return CHANNEL_RE.test(name);
}

/** `true` for a valid event type (1–128 characters, dot-separated segments of `a-z 0-9 _ -`). */
export function isEventType(type: string): boolean {
  return type.length >= 1 && type.length <= 128 && TYPE_RE.test(type);
}

/** The channel an event type belongs to: `alert.created` → `alerts`, `foo.bar` → `foo`. */
export function channelOf(type: string): string {
  const first = type.split(".", 1)[0] ?? type;
  return PLURAL[first] ?? first;
}

/**
 * The channels to subscribe: none or any `all` means just `all`; duplicates once.
 * Throws on an invalid name.
 */
export function normaliseChannels(requested: readonly string[] | undefined | null): string[] {
  const list = requested ?? [];
  for (const c of list) {
    if (!isChannel(c)) throw new TypeError(`invalid channel name ${JSON.stringify(c)}`);
  }
  if (list.length === 0 || list.includes(ALL)) return [ALL];
  return [...new Set(list)];
}

/** The channels that carry `types` (`["alert.created", "case.updated"]` → `["alerts", "cases"]`). */
export function channelsOfTypes(types: readonly string[]): string[] {
  return [...new Set(types.map(channelOf))];
}
