/**
 * A byte stream between the page and the crypto worker, one piece at a time over a
 * MessagePort, each piece's buffer transferred rather than copied.
 *
 * A ReadableStream or WritableStream posted to a worker clones every chunk it
 * carries: a 1 MiB piece costs about 2 ms each way in Chromium, more than sealing
 * it, where transferring its buffer costs about 0.1 ms. The receiving end asks for
 * each piece ("pull"), so neither side ever holds more than its stream's queue:
 * memory stays flat whatever the size of the file.
 *
 * A piece that is a view on part of a buffer is copied first (its buffer may hold
 * bytes that are not the stream's); a whole-buffer piece is detached from the sender,
 * who gave it away by writing it, as with any chunk written to a stream.
 */

type PieceMessage =
  /** Receiver to sender: room for one more piece. */
  | { kind: "pull" }
  | { kind: "piece"; piece: Uint8Array }
  | { kind: "end" }
  /** Sender to receiver: the stream failed; the refusal that says why travels elsewhere. */
  | { kind: "abort" }
  /** Receiver to sender: no more pieces wanted. */
  | { kind: "cancel" };

/** Pieces asked for ahead of the reader: enough to keep the worker busy meanwhile. */
const READ_AHEAD = 2;

function post(port: MessagePort, message: PieceMessage, transfer: Transferable[] = []): void {
  port.postMessage(message, transfer);
}

/** `chunk` or a copy of it, alone in its buffer, so that the buffer can be transferred. */
function ownBuffer(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
  return whole ? (chunk as Uint8Array<ArrayBuffer>) : chunk.slice();
}

/** The stream of what `port`'s other end writes into portWritable. */
export function portReadable(port: MessagePort): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let answered: (() => void) | null = null;
  port.onmessage = ({ data }: MessageEvent<PieceMessage | null>) => {
    try {
      if (data?.kind === "piece" && data.piece instanceof Uint8Array) {
        controller.enqueue(data.piece);
      } else if (data?.kind === "end") {
        controller.close();
        port.close();
      } else {
        controller.error(new Error("the byte stream was abandoned by its sender"));
        port.close();
      }
    } catch {
      // A piece or an end arriving after a cancel: nobody wants it.
    }
    answered?.();
    answered = null;
  };
  return new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c;
      },
      pull: () =>
        new Promise<void>((resolve) => {
          answered = resolve;
          post(port, { kind: "pull" });
        }),
      cancel: () => {
        post(port, { kind: "cancel" });
        port.close();
        answered?.();
      },
    },
    { highWaterMark: READ_AHEAD },
  );
}

/** A stream whose pieces go to portReadable on `port`'s other end, as it asks for them. */
export function portWritable(port: MessagePort): WritableStream<Uint8Array> {
  let controller!: WritableStreamDefaultController;
  let credit = 0;
  let cancelled = false;
  let granted: (() => void) | null = null;
  const refusal = () => new Error("the receiver of the byte stream cancelled it");
  port.onmessage = ({ data }: MessageEvent<PieceMessage | null>) => {
    if (data?.kind === "pull") {
      credit += 1;
    } else {
      cancelled = true;
      controller.error(refusal());
      port.close();
    }
    granted?.();
    granted = null;
  };
  return new WritableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    async write(chunk) {
      if (credit === 0 && !cancelled) await new Promise<void>((resolve) => (granted = resolve));
      if (cancelled) throw refusal();
      credit -= 1;
      const piece = ownBuffer(chunk);
      post(port, { kind: "piece", piece }, [piece.buffer]);
    },
    close: () => post(port, { kind: "end" }),
    abort: () => post(port, { kind: "abort" }),
  });
}
