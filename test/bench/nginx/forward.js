// The floor of any njs stream filter that sees a whole session (rtmp bench):
// it parses nothing and forwards each read as it came. What it costs against
// a plain proxy is what njs's callback and s.send cost per read; the
// publish-auth filter cannot be cheaper than this.
function filter(s) {
  s.on('upstream', function (data, flags) {
    s.send(data, flags);
  });
  s.on('downstream', function (data, flags) {
    s.send(data, flags);
  });
}

export default { filter };
