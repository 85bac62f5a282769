"""Request bodies of seed 004 (../shared/seeds/004_52d6ec459e2f53fb.txt), verbatim: the one copy
that the seed replay, the API tests and the test clusters send."""

CREATE_SITE = """<Site>
    <Name>Raleigh</Name>
    <Description>Test Gateway</Description>
    <CustomerName>BW</CustomerName>
    <Address>
        <HouseNumber>1600</HouseNumber>
        <StreetName>PENNSYLVANIA</StreetName>
        <StreetSuffix>AVE</StreetSuffix>
        <PostDirectional>NW</PostDirectional>
        <City>WASHINGTON</City>
        <StateCode>DC</StateCode>
        <Zip>20006</Zip>
        <Country>US</Country>
        <AddressType>Service</AddressType>
    </Address>
</Site>"""

# The seed's UC site: the same site with a UC trunking configuration.
CREATE_UC_SITE = CREATE_SITE.replace(
    "</Site>",
    """    <UcTrunkingConfiguration>
        <Type>Seats</Type>
        <UsageCategory>UC500</UsageCategory>
    </UcTrunkingConfiguration>
</Site>""",
)

CREATE_SIPPEER = """<SipPeer>
  <PeerName>Bandwidth Messaging 2 test2</PeerName>
  <IsDefaultPeer>true</IsDefaultPeer>
</SipPeer>"""

ENABLE_SMS = """<SipPeerSmsFeature>
  <SipPeerSmsFeatureSettings>
    <TollFree>true</TollFree>
    <ShortCode>true</ShortCode>
    <Protocol>HTTP</Protocol>
    <Zone1>true</Zone1>
    <Zone2>false</Zone2>
    <Zone3>false</Zone3>
    <Zone4>false</Zone4>
    <Zone5>false</Zone5>
  </SipPeerSmsFeatureSettings>
  <HttpSettings />
</SipPeerSmsFeature>"""

ENABLE_MMS = """<MmsFeature>
  <MmsSettings>
    <Protocol>HTTP</Protocol>
  </MmsSettings>
  <Protocols>
    <HTTP>
      <HttpSettings />
    </HTTP>
  </Protocols>
</MmsFeature>"""
