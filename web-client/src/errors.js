// The one error type of the codecs (protocol.js, snapshot.js): anything that is not a valid
// message, or a snapshot that does not apply to the state held.

/** Any failure to encode, decode or apply; `message` says what and where. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}
