// The test harness's stand-ins for what the seed's Vue components take from their app: vue-router's
// this.$route (table 123, as the manual's own default) and element-ui's this.$message /
// this.$confirm. They record what the component did in window.__comp for the test to read; they are
// not part of the components (which are the manual's text, unchanged).
window.__comp = { messages: [], confirms: [] };

export function installVueStandins(app, tableId = 123) {
  const say = (kind) => (text) => window.__comp.messages.push({ kind, text: String(text) });
  app.config.globalProperties.$route = { params: { tableId } };
  app.config.globalProperties.$message = { success: say('success'), error: say('error'), info: say('info'), warning: say('warning') };
  app.config.globalProperties.$confirm = (text) => {
    window.__comp.confirms.push(String(text));
    return Promise.resolve('confirm'); // the diner taps 确定
  };
}
