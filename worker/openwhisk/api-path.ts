/**
 * Splits a raw `/api/v1/...` path into what the proxy routes on. Segments stay
 * percent-encoded so they are forwarded byte for byte (`%20` in names, `%40` in
 * namespaces); package paths are two raw segments (docs/openwhisk.md, "Paths").
 */
export type ApiTarget =
  | { kind: "namespaces" }
  /** `…/{collection}` or `…/{collection}/{pkg}/` (entities in one package). */
  | { kind: "list"; collection: string }
  | { kind: "entity"; collection: string; name: string }
  | { kind: "activation"; id: string; part: "record" | "result" | "logs" }
  /** `…/limits`: one document per namespace, read from the first backend that answers. */
  | { kind: "limits" }
  | { kind: "unknown" };

export const ENTITY_COLLECTIONS = new Set(["actions", "packages", "triggers", "rules"]);

/** `rest` is the path after `/api/v1`, e.g. `/namespaces/_/actions/pkg/hello`. */
export function parseApiPath(rest: string): ApiTarget {
  const segments = rest.split("/").slice(1);
  if (segments[0] !== "namespaces") return { kind: "unknown" };
  if (segments.length === 1 || (segments.length === 2 && segments[1] === "")) return { kind: "namespaces" };
  const [, namespace, collection, ...tail] = segments;
  if (!namespace || !collection) return { kind: "unknown" };
  if (collection === "limits") return tail.length === 0 ? { kind: "limits" } : { kind: "unknown" };
  if (collection === "activations") {
    if (tail.length === 0 || (tail.length === 1 && tail[0] === "")) return { kind: "list", collection };
    const [id, part, extra] = tail;
    if (!id || extra !== undefined) return { kind: "unknown" };
    if (part === undefined) return { kind: "activation", id, part: "record" };
    if (part === "result" || part === "logs") return { kind: "activation", id, part };
    return { kind: "unknown" };
  }
  if (!ENTITY_COLLECTIONS.has(collection)) return { kind: "unknown" };
  if (tail.length === 0 || (tail.length === 1 && tail[0] === "")) return { kind: "list", collection };
  if (tail.length === 2 && tail[0] !== "" && tail[1] === "") return { kind: "list", collection };
  if (tail.length <= 2 && tail.every((s) => s !== ""))
    return { kind: "entity", collection, name: tail.join("/") };
  return { kind: "unknown" };
}
