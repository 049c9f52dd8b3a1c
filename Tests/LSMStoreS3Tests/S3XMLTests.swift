import LSMStore
import Testing

@testable import LSMStoreS3

/// The reader of S3's XML answers: listings and upload lists as S3 writes them, entities,
/// and malformed or damaged answers refused, never misread.
@Suite struct S3XMLTests {
    static let listing = Array(
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>\
        <IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
        <Contents><Key>p/a&amp;b&lt;1&gt;&#x41;&#66;.sst</Key><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>\
        <Contents><Key>p/empty</Key><Size>0</Size><Owner/></Contents>\
        <CommonPrefixes><Prefix>p/chk-1/</Prefix></CommonPrefixes><!-- a comment --></ListBucketResult>
        """.utf8)

    @Test func listingsAreReadWithTheirEntities() throws {
        let page = try #require(ListingParser.parse(Self.listing))
        #expect(page.objects.map(\.key) == ["p/a&b<1>AB.sst", "p/empty"])
        #expect(page.objects.map(\.size) == [1234, 0])
        #expect(page.prefixes == ["p/chk-1/"])
        #expect(page.truncated && page.nextToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        let uploads = Array(
            "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>k</Key><UploadId>u1</UploadId><Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload></ListMultipartUploadsResult>"
                .utf8)
        let r = try #require(XMLRecords.parse(uploads, element: "Upload"))
        #expect(r.records == [["Key": "k", "UploadId": "u1", "Initiated": "2026-01-01T00:00:00.000Z"]])
        #expect(r.top["IsTruncated"] == "false")
    }

    @Test func malformedAnswersAreRefused() {
        for bad in [
            "<A><B></A></B>", "<A>", "<A></B>", "<A>&bogus;</A>", "<A>&amp</A>", "<>x</>",
            "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        ] {
            #expect(ListingParser.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// Random truncations and byte changes of a listing: the reader never traps, and what it
    /// accepts never holds a key the original did not, unless the damage hit a key's bytes.
    @Test func damagedListingsNeverTrap() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            var bytes = Self.listing
            if rng.next() % 2 == 0 {
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + rng.next() % 4) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if let page = ListingParser.parse(bytes) {
                #expect(page.objects.count <= 2, "seed \(seed)")
            }
        }
    }
}
