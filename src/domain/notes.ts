/** One entry of a settlement's notes trail: `[<UTC ISO, seconds> by <user id>] text`. */
export function formatNote(at: Date, userId: string, text: string): string {
  return `[${at.toISOString().slice(0, 19)}Z by ${userId}] ${text.trim()}`;
}
