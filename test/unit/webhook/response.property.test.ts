import fc from 'fast-check';
import { allowed, denied, errored, patched, reviewJson, withAuditAnnotations, withWarnings, type ReviewResponse } from '../../../src/webhook/response.js';

/** What reviewJson replaced: the envelope built as objects and stringified. */
function reviewAsObjects(uid: string | undefined, response: ReviewResponse): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: uid ?? '', ...response } });
}

const text = fc.string({ unit: 'binary', maxLength: 40 });
const response: fc.Arbitrary<ReviewResponse> = fc.tuple(
  fc.oneof(
    fc.constant(allowed()),
    text.map((message) => denied(message)),
    fc.tuple(fc.integer({ min: 400, max: 599 }), text).map(([code, message]) => errored(code, message)),
    fc.array(fc.record({ op: fc.constant('add' as const), path: text, value: text }), { maxLength: 3 }).map((patch) => patched(patch)),
  ),
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(text, text, { maxKeys: 3 }),
).map(([base, warnings, annotations]) => withAuditAnnotations(withWarnings(base, warnings), annotations));

describe('reviewJson', () => {
  it('is byte for byte the stringified review, uid first, for any response and uid', () => {
    fc.assert(fc.property(fc.option(text, { nil: undefined }), response, (uid, answer) => {
      const json = reviewJson(uid, answer);
      expect(json).toBe(reviewAsObjects(uid, answer));
      expect(JSON.parse(json).response.uid).toBe(uid ?? '');
    }));
  });
});
