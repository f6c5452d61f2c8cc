/** A set that forgets its oldest entries past `capacity` (insertion order). */
export class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(v: string): boolean {
    return this.items.has(v);
  }
  clear(): void {
    this.items.clear();
  }
  add(v: string): void {
    if (this.items.has(v)) return;
    this.items.add(v);
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next().value;
      if (oldest !== undefined) this.items.delete(oldest);
    }
  }
}
