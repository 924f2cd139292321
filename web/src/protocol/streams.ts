/** Reading exact byte counts from a ReadableStream, and bytes-in/bytes-out adapters. */

/**
 * Reads a byte stream in pieces of an exact size; a piece is shorter only at the
 * end of the input. Holds at most one piece plus one chunk of the source.
 *
 * A piece that lies whole within one chunk of the source is a view of that chunk,
 * not a copy: a stream that already yields chunks of the piece size (the page's
 * 1 MiB pieces) is read without copying. Callers only read pieces, never write them.
 */
export class ExactReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private pending: Uint8Array = new Uint8Array(0);
  private done = false;

  constructor(source: ReadableStream<Uint8Array>) {
    this.reader = source.getReader();
  }

  /** The next chunk of the source, or null at its end. */
  private async pull(): Promise<Uint8Array | null> {
    if (this.done) return null;
    const { value, done } = await this.reader.read();
    if (done) {
      this.done = true;
      return null;
    }
    return value;
  }

  async read(size: number): Promise<Uint8Array> {
    while (this.pending.length === 0) {
      const chunk = await this.pull();
      if (chunk === null) return new Uint8Array(0);
      this.pending = chunk;
    }
    if (this.pending.length >= size) {
      const piece = this.pending.subarray(0, size);
      this.pending = this.pending.subarray(size);
      return piece;
    }
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      if (this.pending.length === 0) {
        const chunk = await this.pull();
        if (chunk === null) break;
        this.pending = chunk;
        continue;
      }
      const take = Math.min(size - filled, this.pending.length);
      out.set(this.pending.subarray(0, take), filled);
      this.pending = this.pending.subarray(take);
      filled += take;
    }
    return filled === size ? out : out.subarray(0, filled);
  }

  /** Whatever comes next, as the source cut it (what is held first); empty at the end. */
  async readAvailable(): Promise<Uint8Array> {
    if (this.pending.length > 0) {
      const held = this.pending;
      this.pending = new Uint8Array(0);
      return held;
    }
    return (await this.pull()) ?? new Uint8Array(0);
  }

  async cancel(reason: unknown): Promise<void> {
    await this.reader.cancel(reason).catch(() => undefined);
  }

  release(): void {
    this.reader.releaseLock();
  }
}

/** A stream of `data` in slices of `sliceSize` bytes (tests, small documents). */
export function bytesSource(data: Uint8Array, sliceSize = 65536): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) {
        controller.close();
        return;
      }
      controller.enqueue(data.slice(offset, offset + sliceSize));
      offset += sliceSize;
    },
  });
}

/** A sink that keeps what it is given; `bytes()` joins it. */
export function bytesSink(): { sink: WritableStream<Uint8Array>; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      parts.push(chunk.slice());
    },
  });
  const bytes = (): Uint8Array => {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  };
  return { sink, bytes };
}
