// Package credtest lists the forms a credential can take in a pipeline file, for the tests
// that prove none of them reaches the public (pipelines' masking, the web API).
package credtest

import "encoding/base64"

// Form is one way a credential can be written in a pipeline file.
type Form struct {
	Name    string
	YAML    string   // the file
	Secrets []string // must appear nowhere in what the public sees
	// Refused: the public view must be refused (the file does not parse, or a credential
	// shows where it cannot be masked); otherwise it must be shown.
	Refused bool
}

// Forms is every form of credential that came through the old text redaction in clear (whole
// or in part: a secret's distinctive pieces are listed too), and more. Each file is valid
// YAML except where Refused says it must be refused.
func Forms() []Form {
	b64 := base64.StdEncoding.EncodeToString
	return []Form{
		{Name: "plain", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x', password: plain-secret-1}\nsink: {type: fake}\n",
			Secrets: []string{"plain-secret-1"}},
		{Name: "space", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  password: two words secret\nsink: {type: fake}\n",
			Secrets: []string{"two words secret", "words secret"}},
		{Name: "comma and brace", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  password: a,b}c]d secret\nsink: {type: fake}\n",
			Secrets: []string{"a,b}c]d secret", "b}c]d secret", "d secret"}},
		{Name: "flow mapping quoted", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x', password: \"fl ow,}sec\"}\nsink: {type: fake}\n",
			Secrets: []string{"fl ow,}sec", "ow,}sec"}},
		{Name: "block literal", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  password: |\n    block-literal-secret\nsink: {type: fake}\n",
			Secrets: []string{"block-literal-secret"}},
		{Name: "block folded, chomped", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  password: >-\n    folded-\n    secret\nsink: {type: fake}\n",
			Secrets: []string{"folded- secret", "folded-"}},
		{Name: "anchor and alias", YAML: "name: cam\nx-camera: &pw anchored-secret\nsource: {type: rtsp, url: 'rtsp://cam/x', password: *pw}\nsink: {type: fake}\n",
			Secrets: []string{"anchored-secret"}},
		{Name: "alias to an anchor in a description", YAML: "name: cam\ndescription: &d desc-anchored-secret\nsource: {type: rtsp, url: 'rtsp://cam/x', password: *d}\nsink: {type: fake}\n",
			Secrets: []string{"desc-anchored-secret"}},
		{Name: "anchor inside a masked mapping, aliased elsewhere", YAML: "name: cam\ncredentials: {user: bob, password: &inner inner-secret}\nnote: *inner\nsink: {type: fake}\n",
			Secrets: []string{"inner-secret"}},
		{Name: "!!str tag", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x', password: !!str tagged-secret}\nsink: {type: fake}\n",
			Secrets: []string{"tagged-secret"}},
		{Name: "double-quoted key", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  \"password\": dq-key-secret\nsink: {type: fake}\n",
			Secrets: []string{"dq-key-secret"}},
		{Name: "single-quoted key", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  'password': sq-key-secret\nsink: {type: fake}\n",
			Secrets: []string{"sq-key-secret"}},
		{Name: "tagged key", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  !!str password: tag-key-secret\nsink: {type: fake}\n",
			Secrets: []string{"tag-key-secret"}},
		{Name: "alias as the key", YAML: "name: cam\nk: &k password\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  *k : alias-key-secret\nsink: {type: fake}\n",
			Secrets: []string{"alias-key-secret"}},
		{Name: "!!binary key", YAML: "name: cam\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  !!binary " + b64([]byte("password")) + ": binary-key-secret\nsink: {type: fake}\n",
			Secrets: []string{"binary-key-secret"}},
		{Name: "!!binary value", YAML: "name: cam\nx: !!binary " + b64([]byte("rtsp://u:bin-url-secret@cam/x")) + "\npassword: !!binary " + b64([]byte("binary-value-secret")) + "\nsink: {type: fake}\n",
			Secrets: []string{"bin-url-secret", "binary-value-secret", b64([]byte("binary-value-secret"))}},
		{Name: "'@' in the URL's password", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://admin:p@ss@wxyz@10.0.0.2:554/s'}\nsink: {type: fake}\n",
			Secrets: []string{"p@ss@wxyz", "ss@wxyz", "wxyz"}},
		{Name: "percent-encoded URL password", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://admin:pct%40secret@10.0.0.2/s'}\nsink: {type: fake}\n",
			Secrets: []string{"pct%40secret", "pct@secret"}},
		{Name: "space in the URL's password", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://admin:sp ace secret@cam/s'}\nsink: {type: fake}\n",
			Secrets: []string{"sp ace secret", "ace secret"}},
		{Name: "&password= in the query", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x?user=bob&password=query-pw-secret'}\nsink: {type: fake}\n",
			Secrets: []string{"query-pw-secret"}},
		{Name: "?token= in the query", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x?token=query-token-secret&ch=1'}\nsink: {type: fake}\n",
			Secrets: []string{"query-token-secret"}},
		{Name: "secret= and api_key= in the query", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x?secret=qs-secret;api_key=qk-secret'}\nsink: {type: fake}\n",
			Secrets: []string{"qs-secret", "qk-secret"}},
		{Name: "element properties user-pw and proxy-pw", YAML: "name: cam\nsource: {type: test}\nelements:\n  - element: rtspsrc\n    properties: {user-id: bob, user-pw: prop-user-pw-secret, proxy-pw: prop-proxy-pw-secret}\n  - element: souphttpsrc\n    properties:\n      user_pw: soup-pw-secret\n      proxy-pw: soup-proxy-secret\nsink: {type: fake}\n",
			Secrets: []string{"prop-user-pw-secret", "prop-proxy-pw-secret", "soup-pw-secret", "soup-proxy-secret"}},
		{Name: "location with userinfo", YAML: "name: cam\nsource: {type: test}\nelements:\n  - element: souphttpsrc\n    properties: {location: 'http://bob:loc-secret@h/x.mjpg'}\nsink: {type: fake}\n",
			Secrets: []string{"loc-secret"}},
		{Name: "proxy without a scheme", YAML: "name: cam\nsource: {type: test}\nelements:\n  - element: rtspsrc\n    properties: {proxy: 'bob:bare-proxy-secret@proxy.lan:3128'}\nsink: {type: fake}\n",
			Secrets: []string{"bare-proxy-secret"}},
		{Name: "JSON", YAML: `{"name": "cam", "source": {"type": "rtsp", "url": "rtsp://u:json-url-secret@h/x", "password": "json pw secret"}, "sink": {"type": "fake"}}`,
			Secrets: []string{"json-url-secret", "json pw secret", "pw secret"}},
		{Name: "multi-document", YAML: "name: cam\nsource: {type: test}\nsink: {type: fake}\n---\nsource: {type: rtsp, url: 'rtsp://cam/x', password: second-doc-secret}\n",
			Secrets: []string{"second-doc-secret"}},
		{Name: "CRLF", YAML: "name: cam\r\nsource:\r\n  type: rtsp\r\n  url: rtsp://u:crlf-url-secret@cam/x\r\n  password: crlf-secret\r\nsink: {type: fake}\r\n",
			Secrets: []string{"crlf-secret", "crlf-url-secret"}},
		{Name: "unicode", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://u:üñí-url@cam/x', password: \"pässwörd✓ 密码\"}\nsink: {type: fake}\n",
			Secrets: []string{"pässwörd✓ 密码", "üñí-url"}},
		{Name: "escapes", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://cam/x', password: \"tab\\there\\u00e9\"}\nsink: {type: fake}\n",
			Secrets: []string{"tab\there\u00e9"}},
		{Name: "comments", YAML: "# camera password: comment-secret-1\nname: cam # the old one was comment-secret-2\nsource: {type: test}\n# comment-secret-3\nsink: {type: fake}\n",
			Secrets: []string{"comment-secret-1", "comment-secret-2", "comment-secret-3"}},
		{Name: "merge key", YAML: "name: cam\nbase: &b {password: merge-secret, transport: tcp}\nsource: {<<: *b, type: rtsp, url: 'rtsp://cam/x'}\nsink: {type: fake}\n",
			Secrets: []string{"merge-secret"}},
		{Name: "credentials mapping and token sequence", YAML: "name: cam\ncredentials: {user: bob, pin: map-secret}\ntokens: [seq-secret-1, seq-secret-2]\nsink: {type: fake}\n",
			Secrets: []string{"map-secret", "seq-secret-1", "seq-secret-2"}},
		{Name: "other credential names", YAML: "name: cam\napiKey: apikey-secret\ndb_password: dbpw-secret\nAuthorization: Bearer bearer-secret\nsecret: plain-s-secret\nssh-key-passphrase: pp-secret\n",
			Secrets: []string{"apikey-secret", "dbpw-secret", "bearer-secret", "plain-s-secret", "pp-secret"}},
		{Name: "a field in free text", YAML: "name: cam\ndescription: \"log in with password=desc-field-secret, then wait\"\nsink: {type: fake}\n",
			Secrets: []string{"desc-field-secret"}},
		{Name: "a structure with Authorization", YAML: "name: cam\nsource: {type: test}\nelements:\n  - element: souphttpsrc\n    properties: {extra-headers: 'h, Authorization=(string)\"Basic hdr-secret\"'}\nsink: {type: fake}\n",
			Secrets: []string{"hdr-secret"}},
		// Refused: the file does not parse, or the password also stands in clear elsewhere.
		{Name: "does not parse", YAML: "name: cam\nsource: {type: rtsp, url: 'rtsp://u:unparsed-secret@cam/x', password: [unterminated\n",
			Secrets: []string{"unparsed-secret"}, Refused: true},
		{Name: "the password repeated in clear", YAML: "name: cam\ndescription: the camera's code is repeated-secret\nsource: {type: rtsp, url: 'rtsp://cam/x', password: repeated-secret}\nsink: {type: fake}\n",
			Secrets: []string{"repeated-secret"}, Refused: true},
	}
}
