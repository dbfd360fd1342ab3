// The tenant a token names, read without checking its signature (the server checks it): GOVERN
// envelopes do not carry `tenant_id`, so a feed fills it in from its token.

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, unverified; null for anything that is not a JWT with a JSON payload. */
export function unverifiedClaims(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims: unknown = JSON.parse(base64UrlDecode(parts[1]));
    return typeof claims === "object" && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The `tenant_id` claim of a token, unverified; null if it names none. */
export function tenantOf(token: string): string | null {
  const t = unverifiedClaims(token)?.tenant_id;
  return typeof t === "string" && t.length > 0 ? t : null;
}
